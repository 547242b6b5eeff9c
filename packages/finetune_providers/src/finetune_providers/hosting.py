"""Model hosts (`finetune_register_model_hosts`): Together's dedicated endpoints and Fireworks' deployments.

Together AI (base https://api.together.xyz/v1; chats: Chat Completions there, with the endpoint's `name`):

    GET   hardware?model={model}        [{id, pricing: {cents_per_minute}, availability: {status}}]
    POST  endpoints                     {model, hardware, display_name, autoscaling: {min_replicas, max_replicas}}
    GET   endpoints/{id}                {id, name, state: PENDING|STARTING|STARTED|STOPPING|STOPPED|ERROR}
    PATCH endpoints/{id}                {state: STOPPED | STARTED}

Documented at https://docs.together.ai/reference/listhardware, .../createendpoint, .../getendpoint,
.../updateendpoint and https://docs.together.ai/docs/dedicated-endpoints/overview (pricing per minute of hardware).

Fireworks AI (base https://api.fireworks.ai/v1; chats: https://api.fireworks.ai/inference/v1 with the model's
resource name `accounts/{a}/models/{id}`):

    POST   accounts/{a}/deployments?deploymentId={id}   {displayName, baseModel: the LoRA model, acceleratorType,
                                                         acceleratorCount, minReplicaCount, maxReplicaCount}
    GET    accounts/{a}/deployments/{id}                state CREATING|READY|UPDATING|DELETING|DELETED|FAILED
    DELETE accounts/{a}/deployments/{id}

Documented at https://docs.fireworks.ai/api-reference/create-deployment, .../get-deployment,
.../delete-deployment and https://docs.fireworks.ai/fine-tuning/deploying-loras (a LoRA fine-tune deployed on
its own, "live merge": the deployment's base model is the LoRA model).

Chosen here, where the docs leave a choice or say nothing:
- One replica (min = max = 1), so the estimate is one replica's hourly price. Together: the cheapest available
  hardware the model may use, unless one is named. Fireworks: `NVIDIA_H100_80GB` unless named.
- Fireworks' API gives no prices: `FIREWORKS_PRICES` is the on-demand price list of https://fireworks.ai/pricing
  (per GPU hour, as listed when written; `source: "price list"` in the estimate says so).
- Stopping: Together's endpoint is stopped (PATCH STOPPED, started again by PATCH STARTED on the next deploy of
  the same hardware); Fireworks' deployment is deleted (it keeps no stopped state), and a new deploy creates a
  new one under a new id (`ft-{model id}-{n}`); a creation answered 409 (sent before) is read back instead.
- The account of a Fireworks model is the one in its resource name.
"""

from __future__ import annotations

from typing import Any, ClassVar

from finetune_core.domain import TrainedModel
from finetune_core.errors import GenerationError, InvalidInputError, ModelUnavailableError, TrainingError
from finetune_core.serving import FAILED, PENDING, READY, STOPPED, STOPPING, CostEstimate, Deployment

from finetune_providers._retry import RetryPolicy, TransientError
from finetune_providers.training import HostedApi

TIMEOUT_S = 30.0


class HostApi(HostedApi):
    """The hosted API client, with the PATCH and DELETE that deployments need."""

    def patch(self, path: str, *, json: Any = None) -> Any:
        return self.retry(lambda: self._send("PATCH", path, json=json))

    def delete(self, path: str) -> Any:
        return self.retry(lambda: self._send("DELETE", path))


class _Host:
    name: ClassVar[str]
    label: ClassVar[str]
    key_provider: ClassVar[str]
    base_url: str

    def __init__(self, base_url: str | None = None) -> None:
        if base_url is not None:
            self.base_url = base_url

    def api(self, api_key: str | None) -> HostApi:
        return HostApi(label=self.label, base_url=self.base_url, api_key=api_key, policy=RetryPolicy(max_attempts=3),
                       timeout_s=TIMEOUT_S, key_hint=f"finetune keys set {self.key_provider}")

    def call(self, api_key: str | None, action: Any) -> Any:
        """`action(api)`; a provider that keeps failing is 503 MODEL_UNAVAILABLE, one that refuses 502."""
        with self.api(api_key) as api:
            try:
                return action(api)
            except TransientError as exc:
                raise ModelUnavailableError(f"{self.label}: {exc.message}", provider=self.name) from None
            except TrainingError as exc:  # the shared client's word for a refusal: not a training here
                raise GenerationError(exc.message, error_code=exc.error_code, **exc.context) from None


# --- Together ---------------------------------------------------------------------------------------
TOGETHER_STATES = {"PENDING": PENDING, "STARTING": PENDING, "STARTED": READY, "STOPPING": STOPPING,
                   "STOPPED": STOPPED, "ERROR": FAILED}


class TogetherHost(_Host):
    name: ClassVar[str] = "together"
    label: ClassVar[str] = "Together AI"
    key_provider: ClassVar[str] = "together"
    base_url = "https://api.together.xyz/v1"

    def estimate(self, model: TrainedModel, *, api_key: str | None, hardware: str | None = None) -> CostEstimate:
        listed = self.call(api_key, lambda api: api.get("hardware", params={"model": model.provider_model_id}))
        options = [item for item in (listed or {}).get("data") or [] if isinstance(item, dict) and item.get("id")]
        if hardware is not None:
            chosen = next((item for item in options if item["id"] == hardware), None)
            if chosen is None:
                known = ", ".join(str(item["id"]) for item in options) or "none"
                raise InvalidInputError(f"{self.label} offers no hardware '{hardware}' for this model (offered: "
                                        f"{known})", hardware=hardware)
        else:
            available = [item for item in options
                         if (item.get("availability") or {}).get("status", "available") == "available"]
            if not available:
                raise ModelUnavailableError(f"{self.label} has no hardware available for "
                                            f"{model.provider_model_id} now", provider=self.name)
            chosen = min(available, key=_together_hourly)
        return CostEstimate(hardware=str(chosen["id"]), cost_per_hour=_together_hourly(chosen))

    def start(self, model: TrainedModel, *, api_key: str | None, estimate: CostEstimate,
              previous: Deployment | None = None) -> Deployment:
        if previous is not None and previous.host == self.name and previous.hardware == estimate.hardware:
            answer = self.call(api_key, lambda api: api.patch(f"endpoints/{previous.deployment_id}",
                                                               json={"state": "STARTED"}))
            return self._deployment(answer, previous.hardware, estimate.cost_per_hour)
        body = {"model": model.provider_model_id, "hardware": estimate.hardware,
                "display_name": f"finetune {model.name}"[:100], "autoscaling": {"min_replicas": 1, "max_replicas": 1}}
        # a creation is not retried blindly: a lost answer could leave two billed endpoints
        answer = self.call(api_key, lambda api: api.post("endpoints", json=body, retry=False))
        return self._deployment(answer, estimate.hardware, estimate.cost_per_hour)

    def status(self, model: TrainedModel, deployment: Deployment, *, api_key: str | None) -> Deployment:
        answer = self.call(api_key, lambda api: api.get(f"endpoints/{deployment.deployment_id}"))
        return self._deployment(answer, deployment.hardware, deployment.cost_per_hour)

    def stop(self, model: TrainedModel, deployment: Deployment, *, api_key: str | None) -> Deployment:
        answer = self.call(api_key, lambda api: api.patch(f"endpoints/{deployment.deployment_id}",
                                                           json={"state": "STOPPED"}))
        return self._deployment(answer, deployment.hardware, deployment.cost_per_hour)

    def _deployment(self, answer: Any, hardware: str, cost_per_hour: float) -> Deployment:
        if not isinstance(answer, dict) or not answer.get("id"):
            raise TrainingError(f"{self.label} answered without an endpoint id", provider=self.name)
        raw = str(answer.get("state") or "PENDING").upper()
        return Deployment(host=self.name, deployment_id=str(answer["id"]), state=TOGETHER_STATES.get(raw, PENDING),
                          hardware=str(answer.get("hardware") or hardware), cost_per_hour=cost_per_hour,
                          chat_model=str(answer.get("name") or answer.get("model")), chat_base_url=self.base_url,
                          provider_state=raw)


def _together_hourly(item: dict[str, Any]) -> float:
    cents = (item.get("pricing") or {}).get("cents_per_minute")
    return round(float(cents) * 60 / 100, 2) if isinstance(cents, int | float) else float("inf")


# --- Fireworks --------------------------------------------------------------------------------------
FIREWORKS_STATES = {"CREATING": PENDING, "UPDATING": PENDING, "READY": READY, "DELETING": STOPPING,
                    "DELETED": STOPPED, "FAILED": FAILED}
FIREWORKS_PRICES = {"NVIDIA_A100_80GB": 2.90, "NVIDIA_H100_80GB": 4.00, "NVIDIA_H200_141GB": 6.00,
                    "AMD_MI300X_192GB": 4.99}  # USD per GPU hour, https://fireworks.ai/pricing
FIREWORKS_DEFAULT_ACCELERATOR = "NVIDIA_H100_80GB"


class FireworksHost(_Host):
    name: ClassVar[str] = "fireworks"
    label: ClassVar[str] = "Fireworks AI"
    key_provider: ClassVar[str] = "fireworks"
    base_url = "https://api.fireworks.ai/v1"
    inference_url = "https://api.fireworks.ai/inference/v1"

    def estimate(self, model: TrainedModel, *, api_key: str | None, hardware: str | None = None) -> CostEstimate:
        accelerator = hardware or FIREWORKS_DEFAULT_ACCELERATOR
        if accelerator not in FIREWORKS_PRICES:
            raise InvalidInputError(f"{self.label} accelerators: {', '.join(sorted(FIREWORKS_PRICES))} (not "
                                    f"'{accelerator}')", hardware=accelerator)
        return CostEstimate(hardware=accelerator, cost_per_hour=FIREWORKS_PRICES[accelerator], source="price list")

    def start(self, model: TrainedModel, *, api_key: str | None, estimate: CostEstimate,
              previous: Deployment | None = None) -> Deployment:
        account = _account(model)
        number = int((previous.extra if previous else {}).get("number", 0)) + 1
        deployment_id = f"ft-{model.id}-{number}".lower()[:63]
        body = {"displayName": f"finetune {model.name}"[:63], "baseModel": model.provider_model_id,
                "acceleratorType": estimate.hardware, "acceleratorCount": 1, "minReplicaCount": 1,
                "maxReplicaCount": 1}

        def create(api: HostApi) -> Any:
            try:
                return api.post(f"accounts/{account}/deployments?deploymentId={deployment_id}", json=body, retry=False)
            except TransientError as exc:
                if exc.status != 409:
                    raise
                return api.get(f"accounts/{account}/deployments/{deployment_id}")  # made by an earlier attempt

        answer = self.call(api_key, create)
        return self._deployment(model, answer, deployment_id, estimate, number)

    def status(self, model: TrainedModel, deployment: Deployment, *, api_key: str | None) -> Deployment:
        path = f"accounts/{_account(model)}/deployments/{deployment.deployment_id}"

        def read(api: HostApi) -> Any:
            try:
                return api.get(path)
            except TrainingError as exc:
                if exc.context.get("status") == 404 and deployment.state == STOPPING:
                    return {"state": "DELETED"}  # deleted and gone
                raise

        answer = self.call(api_key, read)
        return deployment.moved(FIREWORKS_STATES.get(str(answer.get("state")), deployment.state),
                                str(answer.get("state")), (answer.get("status") or {}).get("message") or None)

    def stop(self, model: TrainedModel, deployment: Deployment, *, api_key: str | None) -> Deployment:
        path = f"accounts/{_account(model)}/deployments/{deployment.deployment_id}"
        self.call(api_key, lambda api: api.delete(path))
        return deployment.moved(STOPPING, "DELETING")

    def _deployment(self, model: TrainedModel, answer: Any, deployment_id: str, estimate: CostEstimate,
                    number: int) -> Deployment:
        raw = str((answer or {}).get("state") or "CREATING")
        return Deployment(host=self.name, deployment_id=deployment_id, state=FIREWORKS_STATES.get(raw, PENDING),
                          hardware=estimate.hardware, cost_per_hour=estimate.cost_per_hour,
                          chat_model=str(model.provider_model_id), chat_base_url=self.inference_url,
                          provider_state=raw, extra={"number": number})


def _account(model: TrainedModel) -> str:
    parts = str(model.provider_model_id or "").split("/")
    if len(parts) != 4 or parts[0] != "accounts" or parts[2] != "models":
        raise InvalidInputError(f"a Fireworks model id reads accounts/<account>/models/<id>, not "
                                f"'{model.provider_model_id}'", model_id=model.id)
    return parts[1]


MODEL_HOSTS = (TogetherHost(), FireworksHost())
