"""Models (dualqueryintelligence): those finished fine-tunings registered, and those entered by hand."""

from __future__ import annotations

from typing import Any

from finetune_core.services import fine_tunes, model_hosting, trained_models
from flask.views import MethodView

from finetune_web.current import caller, owned_project, workspace
from finetune_web.openapi import ApiBlueprint
from finetune_web.pagination import Page, page
from finetune_web.schemas.bridge import schema_for
from finetune_web.schemas.models import SCORES, DeploymentCreate, DeploymentOut, ModelCreate, ModelListArgs, ModelOut

blp = ApiBlueprint("models", __name__, url_prefix="/api/models",
                   description="Fine-tuned models (dualqueryintelligence): registered by a finished fine-tuning")


@blp.route("")
class Models(MethodView):
    @blp.arguments(schema_for(ModelListArgs), location="query")
    @blp.response(200, schema_for(Page[ModelOut]))
    def get(self, args: ModelListArgs) -> dict[str, Any]:
        """The caller's models, newest first (filter: dataset_id)"""
        project_id = owned_project(args.dataset_id).id if args.dataset_id is not None else None
        found, total = fine_tunes.list_models(workspace(), owner_id=caller().owner_id, project_id=project_id,
                                              limit=args.limit, offset=args.offset)
        return page([ModelOut.of(model) for model in found], total, args)

    @blp.arguments(schema_for(ModelCreate))
    @blp.response(201, schema_for(ModelOut))
    def post(self, body: ModelCreate) -> ModelOut:
        """Enter a model trained elsewhere; 404 for an unknown dataset"""
        project_id = owned_project(body.dataset_id).id if body.dataset_id is not None else None
        scores = {name: getattr(body, name) for name in SCORES if getattr(body, name) is not None}
        model = trained_models.create_model(
            workspace(), name=body.name, base_model=body.base_model, version=body.version, status=body.status,
            provider=body.provider, provider_model_id=body.provider_model_id, project_id=project_id, metrics=scores,
            owner_id=caller().owner_id)
        return ModelOut.of(model)


@blp.route("/<model_id>")
class ModelItem(MethodView):
    @blp.response(200, schema_for(ModelOut))
    def get(self, model_id: str) -> ModelOut:
        """One model"""
        return ModelOut.of(trained_models.owned_model(workspace(), model_id, caller().owner_id))


@blp.route("/<model_id>/deployment")
class ModelDeployment(MethodView):
    @blp.response(200, schema_for(DeploymentOut))
    def get(self, model_id: str) -> dict[str, Any]:
        """The model's deployment (Together endpoint, Fireworks deployment): state `none` when never deployed"""
        return model_hosting.deployment(workspace(), model_id, caller().owner_id)

    @blp.arguments(schema_for(DeploymentCreate))
    @blp.response(202, schema_for(DeploymentOut))
    def post(self, body: DeploymentCreate, model_id: str) -> dict[str, Any]:
        """Deploy the model at its provider, billed by the hour while it runs.

        Without `confirm_cost_per_hour` (or below the estimate): 409 DEPLOYMENT_COST_UNCONFIRMED, with the
        estimated `cost_per_hour`, `currency` and `hardware` in the error's context, and nothing is started.
        A deployment already starting or ready is answered as is. 400 NOT_SUPPORTED for a model no host serves.
        """
        return model_hosting.deploy(workspace(), model_id, caller().owner_id,
                                    confirm_cost_per_hour=body.confirm_cost_per_hour, hardware=body.hardware)

    @blp.response(200, schema_for(DeploymentOut))
    def delete(self, model_id: str) -> dict[str, Any]:
        """Stop the model's deployment (no more billing); chats with it answer 409 MODEL_NOT_DEPLOYED again"""
        return model_hosting.undeploy(workspace(), model_id, caller().owner_id)
