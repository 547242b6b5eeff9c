"""One flask-smorest blueprint per resource family; `BLUEPRINTS` is what the app registers, in this order."""

from __future__ import annotations

from flask_smorest import Blueprint

from finetune_web.routes import (
    api_keys,
    auth,
    chunks,
    contents,
    dataset,
    datasets,
    documents,
    files,
    fine_tunings,
    finetune_jobs,
    helpers,
    jobs,
    model_export,
    models,
    projects,
    sessions,
    system,
    training,
    users,
)

BLUEPRINTS: list[Blueprint] = [system.blp, auth.blp, users.blp, sessions.blp, api_keys.blp, projects.blp, jobs.blp]
BLUEPRINTS += [training.blp, fine_tunings.blp, finetune_jobs.blp, models.blp, model_export.blp]
BLUEPRINTS += [files.blp, contents.blp, documents.blp, helpers.blp, chunks.blp, dataset.blp, datasets.blp]
