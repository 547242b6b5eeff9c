"""Fine-tunings (fintune-platform): list, start, read, rename, delete, cancel.

`dataset_id` is the id of the project whose dataset trains (a project holds one dataset), and
`provider` the trainer: openai, mistral, together, fireworks (hosted, with the caller's stored key), local
(this server's GPU), anthropic (refused: Anthropic offers no fine-tuning API).
"""

from __future__ import annotations

from typing import Any

from finetune_core.services import fine_tunes, trainers, training_runs
from flask.views import MethodView

from finetune_web.current import caller, owned_project, workspace
from finetune_web.openapi import ApiBlueprint
from finetune_web.pagination import page
from finetune_web.routes.fine_tunes.training import start_run
from finetune_web.schemas.bridge import schema_for
from finetune_web.schemas.fine_tunings import (
    FineTuningCancel,
    FineTuningCreate,
    FineTuningListArgs,
    FineTuningOut,
    FineTuningPage,
    FineTuningUpdate,
)

blp = ApiBlueprint("fine-tunings", __name__, url_prefix="/api/fine-tunings",
                   description="Fine-tunings (fintune-platform): hosted at a provider or on this server's GPU")


def owned(fine_tuning_id: str) -> str:
    """The id of the caller's fine-tuning; 404 for a missing one and for another user's alike."""
    return training_runs.owned_fine_tune(workspace(), fine_tuning_id, caller().owner_id).id


@blp.route("")
class FineTunings(MethodView):
    @blp.arguments(schema_for(FineTuningListArgs), location="query")
    @blp.response(200, schema_for(FineTuningPage))
    def get(self, args: FineTuningListArgs) -> dict[str, Any]:
        """The caller's fine-tunings, newest first (filter: dataset_id or project_id), and the trainers available"""
        wanted = {ref for ref in (args.dataset_id, args.project_id) if ref is not None}
        project_ids = {owned_project(ref).id for ref in wanted}
        choices = trainers.availability(workspace(), caller().owner_id)
        if len(project_ids) > 1:  # two different datasets: nothing is in both
            return page([], 0, args, trainers=choices)
        found, total = fine_tunes.list_fine_tunes(workspace(), project_id=next(iter(project_ids), None),
                                                  owner_id=caller().owner_id, limit=args.limit, offset=args.offset)
        return page([FineTuningOut.of(fine_tune) for fine_tune in found], total, args, trainers=choices)

    @blp.arguments(schema_for(FineTuningCreate))
    @blp.response(201, schema_for(FineTuningOut))
    def post(self, body: FineTuningCreate) -> FineTuningOut:
        """Start a fine-tuning of a dataset with a provider's trainer

        401 API_KEY_MISSING without the caller's key for the provider, 400 when the dataset has no valid
        example or the parameters cannot run (NOT_SUPPORTED for anthropic), 409 while another one runs.
        """
        project = owned_project(body.dataset_id)
        fine_tune = start_run(project.id, trainer=body.provider, base_model=body.model, method=body.method,
                              hyperparameters=body.hyperparameters, options=body.options, name=body.name,
                              description=body.description)
        return FineTuningOut.of(fine_tune)


@blp.route("/<fine_tuning_id>")
class FineTuningItem(MethodView):
    @blp.response(200, schema_for(FineTuningOut))
    def get(self, fine_tuning_id: str) -> FineTuningOut:
        """One fine-tuning: status, progress, metrics"""
        return FineTuningOut.of(training_runs.owned_fine_tune(workspace(), fine_tuning_id, caller().owner_id))

    @blp.arguments(schema_for(FineTuningUpdate))
    @blp.response(200, schema_for(FineTuningOut))
    def put(self, body: FineTuningUpdate, fine_tuning_id: str) -> FineTuningOut:
        """Rename a fine-tuning or change its description (a partial update)"""
        return FineTuningOut.of(fine_tunes.update_fine_tune(workspace(), owned(fine_tuning_id), name=body.name,
                                                            description=body.description))

    @blp.response(204)
    def delete(self, fine_tuning_id: str) -> None:
        """Delete a fine-tuning that has ended, with its files (its model stays); 409 while it runs"""
        fine_tunes.delete_fine_tune(workspace(), owned(fine_tuning_id))


@blp.route("/<fine_tuning_id>/cancel")
class FineTuningCancelView(MethodView):
    @blp.arguments(schema_for(FineTuningCancel), required=False)
    @blp.response(200, schema_for(FineTuningOut))
    def post(self, body: FineTuningCancel, fine_tuning_id: str) -> FineTuningOut:
        """Cancel a fine-tuning (at the provider too); 409 JOB_ALREADY_FINISHED once it has ended

        A queued one is cancelled at once; a running one stops at its trainer's next check.
        """
        return FineTuningOut.of(training_runs.cancel_training(workspace(), owned(fine_tuning_id), reason=body.reason))
