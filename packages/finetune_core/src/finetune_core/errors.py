"""The exception tree of finetune_core; adapters map these to status codes.

    FinetuneError
    ├── NotFoundError            a project, source, job... does not exist (404)
    ├── ConflictError            the action clashes with the current state (409)
    │   ├── JobAlreadyFinishedError
    │   ├── PipelineBusyError    a step started while an earlier one of its project is unfinished
    │   ├── EventAlreadyAppliedError a payment provider's event delivered again (the webhook answers 200)
    │   └── FineTuningUnavailableError the provider takes no new fine-tuning job (409)
    ├── InvalidInputError        well-formed but cannot be honoured (400)
    │   ├── UrlNotAllowedError   scheme or address refused before any fetch
    │   ├── UnknownPluginError   no generator/exporter/... registered by that name
    │   ├── InvalidApiKeyError   a provider key that cannot be one of that provider
    │   ├── NotSupportedError    the provider has no such capability (Anthropic fine-tuning)
    │   └── WebhookSignatureError a webhook's signature or timestamp does not verify
    ├── MissingApiKeyError       the provider's key is neither stored nor in the environment (401)
    ├── AuthenticationError      wrong credentials, or a token whose session is revoked or expired (401)
    ├── PermissionDeniedError    the caller is known but may not do this (403)
    ├── UnsupportedFileTypeError MIME type, read from the bytes, not accepted (415)
    ├── FileTooLargeError        over the per-file or per-project limit (413)
    ├── SourceLoadError          a file or page could not be turned into a Document
    ├── GenerationError          a generator failed in a way that stops the job
    ├── TrainingError            a trainer failed: the fine-tuning ends in `error`
    ├── JobCancelledError        raised inside a job when its cancel flag is seen
    ├── PlanLimitError           the caller's plan allows no more of something (402 PLAN_LIMIT_REACHED)
    ├── BillingNotConfiguredError no payment gateway is set up (503)
    ├── PaymentProviderError     the payment provider refused or failed a call (502)
    ├── NothingProducedError     a job ran but made none of what it was asked: it ends `failed` with its counts
    └── PluginError              a plugin misbehaved at registration
        └── DuplicateNameError   two plugins registered the same name
"""

from __future__ import annotations

from typing import Any


class FinetuneError(Exception):
    """Base of every error raised on purpose by finetune_core."""

    error_code = "FINETUNE_ERROR"

    def __init__(self, message: str, *, error_code: str | None = None, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        if error_code:
            self.error_code = error_code
        self.context = context


class NotFoundError(FinetuneError):
    error_code = "NOT_FOUND"


class ConflictError(FinetuneError):
    error_code = "CONFLICT"


class JobAlreadyFinishedError(ConflictError):
    error_code = "JOB_ALREADY_FINISHED"


class PipelineBusyError(ConflictError):
    """A pipeline step refused because an earlier one is unfinished (services/pipeline_order.py).

    `error_code` says why: SOURCES_LOADING, PIPELINE_BUSY or SOURCES_NOT_LOADED.
    """

    error_code = "PIPELINE_BUSY"


class InvalidInputError(FinetuneError):
    error_code = "INVALID_INPUT"


class UrlNotAllowedError(InvalidInputError):
    error_code = "URL_NOT_ALLOWED"


class UnknownPluginError(InvalidInputError):
    error_code = "UNKNOWN_PLUGIN"


class InvalidApiKeyError(InvalidInputError):
    error_code = "INVALID_API_KEY"


class NotSupportedError(InvalidInputError):
    error_code = "NOT_SUPPORTED"


class MissingApiKeyError(FinetuneError):
    error_code = "API_KEY_MISSING"


class AuthenticationError(FinetuneError):
    error_code = "AUTHENTICATION_FAILED"


class PermissionDeniedError(FinetuneError):
    error_code = "FORBIDDEN"


class UnsupportedFileTypeError(FinetuneError):
    error_code = "UNSUPPORTED_FILE_TYPE"


class FileTooLargeError(FinetuneError):
    error_code = "FILE_TOO_LARGE"


class SourceLoadError(FinetuneError):
    error_code = "SOURCE_LOAD_FAILED"


class GenerationError(FinetuneError):
    error_code = "GENERATION_FAILED"


class ModelUnavailableError(FinetuneError):
    """The chat model that should answer could not be reached or refused (its reason in the message)."""

    error_code = "MODEL_UNAVAILABLE"


class TrainingError(FinetuneError):
    error_code = "TRAINING_FAILED"


class JobCancelledError(FinetuneError):
    error_code = "JOB_CANCELLED"


class NothingProducedError(FinetuneError):
    """A job that ran but made none of what it was asked (every request failed, no source loaded...).

    It ends `failed` with this message, and `summary` (its counts) is kept as the job's result_summary.
    """

    error_code = "NOTHING_PRODUCED"

    def __init__(self, message: str, *, summary: dict[str, Any], **context: Any) -> None:
        super().__init__(message, summary=summary, **context)
        self.summary = summary


class PluginError(FinetuneError):
    error_code = "PLUGIN_ERROR"


class DuplicateNameError(PluginError):
    error_code = "DUPLICATE_PLUGIN_NAME"


class IssuedKeyRefusedError(AuthenticationError):
    """An issued API key that is missing, unknown or revoked (services/issued_keys.py); never names the secret."""

    error_code = "INVALID_ISSUED_KEY"


class RateLimitedError(FinetuneError):
    """Over a per-minute limit (an issued key's); `retry_after` is the seconds until the next window (429)."""

    error_code = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after: int, **context: Any) -> None:
        super().__init__(message, retry_after=retry_after, **context)
        self.retry_after = retry_after


class PlanLimitError(FinetuneError):
    """The caller's plan allows no more of something (402); `context` names the limit, the plan and the usage."""

    error_code = "PLAN_LIMIT_REACHED"


class BillingNotConfiguredError(FinetuneError):
    """Billing was asked for but no payment gateway is set up (503)."""

    error_code = "BILLING_NOT_CONFIGURED"


class PaymentProviderError(FinetuneError):
    """The payment provider (Stripe) refused or failed a call (502); its message, never a key, in `detail`."""

    error_code = "PAYMENT_PROVIDER_ERROR"


class WebhookSignatureError(InvalidInputError):
    """A webhook whose signature does not verify, or whose timestamp is outside the tolerance (400)."""

    error_code = "INVALID_SIGNATURE"


class EventAlreadyAppliedError(ConflictError):
    """A payment provider's event that was applied already (a redelivery); the webhook answers 200 all the same."""

    error_code = "EVENT_ALREADY_APPLIED"


class NoPreferencePairsError(ConflictError):
    """A preference export or a DPO fine-tuning of a project (or split) that holds no ranked, untied pair: the
    request is fine, the data is not there yet (generate with task type preference, then rank the pairs)."""

    error_code = "NO_PREFERENCE_PAIRS"


class FineTuningUnavailableError(ConflictError):
    """The provider takes no new fine-tuning job (deprecated, or the account's rights ended); `context` holds its
    reason and the trainers that can take the same dataset now."""

    error_code = "PROVIDER_FINE_TUNING_UNAVAILABLE"
