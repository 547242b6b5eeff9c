"""One flask-smorest blueprint per resource family; `BLUEPRINTS` is what the app registers, in this order."""

from __future__ import annotations

from flask_smorest import Blueprint

from finetune_web.routes import api_keys, auth, jobs, projects, sessions, system, users

BLUEPRINTS: list[Blueprint] = [system.blp, auth.blp, users.blp, sessions.blp, api_keys.blp, projects.blp, jobs.blp]
