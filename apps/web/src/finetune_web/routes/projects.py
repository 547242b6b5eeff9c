"""Projects (finetuneflow §2) and the resolution of their base model (§3)."""

from __future__ import annotations

from typing import Any

from finetune_core.domain import Project
from finetune_core.model_tools import ModelInfo, model_resolver
from finetune_core.services import projects, stats
from flask.views import MethodView

from finetune_web.current import caller, origin, owned_project, workspace
from finetune_web.openapi import ApiBlueprint
from finetune_web.optional import model_tool
from finetune_web.pagination import Page, page
from finetune_web.schemas.bridge import schema_for
from finetune_web.schemas.projects import (
    ModelInfoOut,
    ModelResolveBody,
    ProjectCreate,
    ProjectListArgs,
    ProjectOut,
    ProjectUpdate,
)

blp = ApiBlueprint("projects", __name__, url_prefix="/api/projects", description="Projects and their base model")


def project_out(project: Project, project_stats: dict[str, Any] | None = None) -> dict[str, Any]:
    """The project with its stats (given for a page of projects, read here for one)."""
    return {**project.model_dump(), "stats": project_stats or stats.project_stats(workspace(), project.id)}


@blp.route("")
class Projects(MethodView):
    @blp.arguments(schema_for(ProjectListArgs), location="query")
    @blp.response(200, schema_for(Page[ProjectOut]))
    def get(self, args: ProjectListArgs) -> dict[str, Any]:
        """The caller's projects, newest first, each with its stats"""
        found, total = projects.list_projects(workspace(), status=args.status, owner_id=caller().owner_id,
                                              limit=args.limit, offset=args.offset)
        counts = stats.projects_stats(workspace(), [project.id for project in found])
        return page([project_out(project, counts[project.id]) for project in found], total, args)

    @blp.arguments(schema_for(ProjectCreate))
    @blp.response(201, schema_for(ProjectOut))
    def post(self, body: ProjectCreate) -> dict[str, Any]:
        """Create a project"""
        config = body.config.model_dump(exclude_unset=True) if body.config else None
        project = projects.create_project(workspace(), body.name, task_type=body.task_type,
                                          description=body.description, config=config, owner_id=caller().owner_id)
        return project_out(project)


@blp.route("/<project_id>")
class ProjectItem(MethodView):
    @blp.response(200, schema_for(ProjectOut))
    def get(self, project_id: str) -> dict[str, Any]:
        """One project, with its stats"""
        return project_out(owned_project(project_id))

    @blp.arguments(schema_for(ProjectUpdate))
    @blp.response(200, schema_for(ProjectOut))
    def patch(self, body: ProjectUpdate, project_id: str) -> dict[str, Any]:
        """Update a project partially; `config` is merged key by key (PUT does the same)"""
        project = owned_project(project_id)
        return project_out(projects.update_project(workspace(), project.id, **body.model_dump(exclude_unset=True)))

    put = patch

    @blp.response(204)
    def delete(self, project_id: str) -> None:
        """Delete a project with all its files, chunks, examples, jobs and fine-tunings"""
        projects.delete_project(workspace(), owned_project(project_id).id)


@blp.route("/<project_id>/model/resolve")
class ModelResolve(MethodView):
    @blp.arguments(schema_for(ModelResolveBody))
    @blp.response(200, schema_for(ModelInfoOut))
    def post(self, body: ModelResolveBody, project_id: str) -> ModelInfo:
        """Resolve a Hugging Face model for the project (architecture, parameters, VRAM estimates, licence)

        It becomes the project's `base_model_id`; 404 MODEL_NOT_FOUND when the Hub does not know it; 400
        MODEL_PATH_NOT_ALLOWED for a server path outside the operator's models directory (FINETUNE_MODELS_DIR).
        """
        project = owned_project(project_id)
        resolver = model_tool(model_resolver, "model resolution")
        return resolver.resolve_for_project(workspace(), project.id, body.model_id, origin=origin(),
                                            owner_id=caller().owner_id)
