"""A project's evaluations: chat models compared on questions about its own documents (a job), and their results."""

from __future__ import annotations

from typing import Any

from finetune_core.services import evaluation
from flask.views import MethodView

from finetune_web.current import origin, owned_project, workspace
from finetune_web.pagination import page
from finetune_web.schemas.bridge import schema_for
from finetune_web.schemas.evaluations import EvaluateBody, EvaluationListArgs, EvaluationOut, EvaluationPage
from finetune_web.schemas.jobs import JobAccepted
from finetune_web.user_content import SourcesBlueprint

blp = SourcesBlueprint("evaluations", __name__, url_prefix="/api/projects",
                       description="A project's evaluations: models compared on its own documents")


@blp.route("/<project_id>/evaluate")
class Evaluate(MethodView):
    @blp.arguments(schema_for(EvaluateBody), required=False)
    @blp.response(202, schema_for(JobAccepted))
    def post(self, body: EvaluateBody, project_id: str) -> dict[str, Any]:
        """Start an evaluation: knowledge questions (new, about the facts trained on, checked disjoint from the
        training examples), the eval split's held-out questions and abstention questions asked to each model,
        scored by token F1, ROUGE-L, key fact and abstention (and a judge)

        MODEL_NOT_FOUND for a model or judge no chat model answers; 400 INVALID_INPUT when the project has no
        chunks to ask about, or no finished fine-tune while `models` is absent; 400 URL_NOT_ALLOWED for a model
        server the operator did not list. The job's result summary is the evaluation (GET .../evaluations).
        """
        project = owned_project(project_id)
        job = evaluation.start_evaluation(workspace(), project.id, models=body.models, judge=body.judge,
                                          questions=body.questions, abstention=body.abstention,
                                          model_id=body.model_id, max_tokens=body.max_tokens, origin=origin())
        return {"job_id": job.id, "status": job.status, "message": "Evaluation job enqueued"}


@blp.route("/<project_id>/evaluations")
class Evaluations(MethodView):
    @blp.arguments(schema_for(EvaluationListArgs), location="query")
    @blp.response(200, schema_for(EvaluationPage))
    def get(self, args: EvaluationListArgs, project_id: str) -> dict[str, Any]:
        """The project's evaluation jobs, newest first, with each finished one's result"""
        project = owned_project(project_id)
        jobs, total = evaluation.list_evaluations(workspace(), project.id, limit=args.limit, offset=args.offset)
        return page([EvaluationOut.of(job) for job in jobs], total, args)
