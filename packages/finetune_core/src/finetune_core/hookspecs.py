"""Hook specifications of the `finetune` plugin system (pluggy).

Every hook receives a `register` callable that takes one item with a `name`;
a name already taken raises DuplicateNameError. Implementations may accept
fewer arguments than the spec, so specs can grow without breaking plugins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("finetune")
hookimpl = pluggy.HookimplMarker("finetune")

Register = Callable[[Any], None]


@hookspec
def finetune_register_sources(register: Register) -> None:
    """Register FileLoader (by MIME type) and UrlLoader (by URL pattern) instances."""


@hookspec
def finetune_register_chunkers(register: Register) -> None:
    """Register Chunker instances (e.g. `token`, `markdown-heading`)."""


@hookspec
def finetune_register_generators(register: Register) -> None:
    """Register Generator subclasses by their `name` (e.g. `extractive`, `openai`)."""


@hookspec
def finetune_register_validators(register: Register) -> None:
    """Register Validator instances that flag examples with error codes."""


@hookspec
def finetune_register_exporters(register: Register) -> None:
    """Register Exporter instances, one per output format."""


@hookspec
def finetune_register_trainers(register: Register) -> None:
    """Register fine-tuning backends (hosted or local)."""


@hookspec
def finetune_register_chat_models(register: Register) -> None:
    """Register chat models for chats, agents and model keys."""


@hookspec
def finetune_register_model_hosts(register: Register) -> None:
    """Register ModelHost instances (`finetune_core.serving`): who deploys a provider's fine-tunes, by provider name."""


@hookspec
def finetune_register_providers(register: Register) -> None:
    """Register ProviderSpec instances: the providers whose API keys the key store holds (openai, ...)."""


@hookspec
def finetune_register_job_runners(register: Register) -> None:
    """Register JobRunnerFactory instances (`finetune_core.job_runners`): queue runners chosen by URL scheme."""


@hookspec
def finetune_register_job_types(register: Register) -> None:
    """Register JobType instances (`finetune_core.jobs`): a job type's name and the function that runs it."""


@hookspec
def finetune_register_model_tools(register: Register) -> None:
    """Register a HardwareProbe, a ModelResolver or a ModelExporter (`finetune_core.model_tools`)."""


@hookspec
def finetune_register_media_models(register: Register) -> None:
    """Register media model classes (`finetune_core.media`): SpeechModel, ImageModel, TranscriptionModel."""


@hookspec
def finetune_register_payment_gateways(register: Register) -> None:
    """Register PaymentGatewayFactory instances (`finetune_core.payments`): billing backends by name (`stripe`)."""


@hookspec
def finetune_register_commands(cli: Any) -> None:
    """Add subcommands to the `finetune` click group."""
