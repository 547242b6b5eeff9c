"""One flask-smorest blueprint per resource family, grouped by the concept it serves (docs/glossary.md);
`BLUEPRINTS` is what the app registers, in this order."""

from __future__ import annotations

from flask_smorest import Blueprint

from finetune_web.routes import (
    billing,
    chunks,
    cron,
    evaluations,
    forum,
    jobs,
    media,
    models,
    openai_compat,
    projects,
    studio,
    system,
)
from finetune_web.routes.accounts import api_keys, auth, gdpr, issued_keys, sessions, users
from finetune_web.routes.conversations import agents, assistant, chats, messages
from finetune_web.routes.datasets import datasets, project_dataset
from finetune_web.routes.fine_tunes import fine_tunings, finetune_jobs, model_export, training
from finetune_web.routes.sources import contents, documents, files, helpers

BLUEPRINTS: list[Blueprint] = [system.blp, auth.blp, users.blp, sessions.blp, api_keys.blp, projects.blp, jobs.blp]
BLUEPRINTS += [training.blp, fine_tunings.blp, finetune_jobs.blp, models.blp, model_export.blp]
BLUEPRINTS += [files.blp, contents.blp, documents.blp, helpers.blp, chunks.blp, project_dataset.blp, datasets.blp]
BLUEPRINTS += [agents.blp, chats.blp, messages.blp, assistant.blp]
BLUEPRINTS += [issued_keys.blp, openai_compat.blp]
BLUEPRINTS += [evaluations.blp]
BLUEPRINTS += [billing.blp, gdpr.blp, cron.blp]
BLUEPRINTS += [media.blp, studio.blp]
BLUEPRINTS += [forum.blp]
