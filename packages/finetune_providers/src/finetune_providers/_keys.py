"""API keys: from the settings or the provider's environment variable, checked for shape.

A key never appears in a log, an error message or a result; errors name the provider and say
how to fix it. The format checks catch the usual mistakes (a key of another provider, a
truncated paste, stray spaces) before any request is sent.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from finetune_core.errors import GenerationError


@dataclass(frozen=True)
class KeySpec:
    provider: str  # as shown to users: "OpenAI"
    env_var: str | None  # where the key is read when the settings carry none
    pattern: re.Pattern[str] | None  # the shape a key must have; None: anything goes
    shape: str = ""  # the shape in words, for the error message
    required: bool = True

    @property
    def fix(self) -> str:
        where = f"set {self.env_var} or pass --api-key" if self.env_var else "pass --api-key"
        return where


_FOREIGN_PREFIXES = (("sk-ant-", "Anthropic"),)

OPENAI_KEY = KeySpec("OpenAI", "OPENAI_API_KEY", re.compile(r"sk-(?!ant-)[A-Za-z0-9_\-]{16,}"),
                     "an OpenAI key starts with 'sk-'")
ANTHROPIC_KEY = KeySpec("Anthropic", "ANTHROPIC_API_KEY", re.compile(r"sk-ant-[A-Za-z0-9_\-]{16,}"),
                        "an Anthropic key starts with 'sk-ant-'")
MISTRAL_KEY = KeySpec("Mistral", "MISTRAL_API_KEY", re.compile(r"[A-Za-z0-9]{32}"),
                      "a Mistral key is 32 letters and digits")
FIREWORKS_KEY = KeySpec("Fireworks AI", "FIREWORKS_API_KEY", re.compile(r"(?:fw_)?[A-Za-z0-9]{20,100}"),
                        "a Fireworks AI key is 20 or more letters and digits (often 'fw_...')")
# not OPENAI_API_KEY: a local server's URL is the user's to choose, and it must not receive the OpenAI key
OPENAI_COMPATIBLE_KEY = KeySpec("OpenAI-compatible server", "OPENAI_COMPATIBLE_API_KEY", None, required=False)


def resolve_api_key(spec: KeySpec, configured: str | None) -> str | None:
    """The key to use: `configured`, else the environment variable; checked against `spec`."""
    key = configured if configured is not None else (os.environ.get(spec.env_var) if spec.env_var else None)
    key = key.strip() if key is not None else None
    if not key:
        if spec.required:
            raise GenerationError(f"no {spec.provider} API key: {spec.fix}", error_code="PROVIDER_NO_KEY",
                                  provider=spec.provider)
        return None
    check_key_format(spec, key)
    return key


def check_key_format(spec: KeySpec, key: str) -> None:
    """Raise GenerationError when `key` clearly is not a key of this provider (the key is never quoted)."""
    if any(char.isspace() for char in key) or not key.isprintable():
        raise GenerationError(f"the {spec.provider} API key contains spaces or control characters: "
                              f"paste it again ({spec.fix})", error_code="PROVIDER_BAD_KEY", provider=spec.provider)
    if spec.pattern is None:
        return
    if spec.pattern.fullmatch(key):
        return
    for prefix, owner in _FOREIGN_PREFIXES:
        if key.startswith(prefix) and owner != spec.provider:
            raise GenerationError(f"the {spec.provider} API key looks like an {owner} key ({prefix}...): "
                                  f"{spec.fix}", error_code="PROVIDER_BAD_KEY", provider=spec.provider)
    raise GenerationError(f"the {spec.provider} API key does not have the expected format ({spec.shape}; "
                          f"this one has {len(key)} characters): {spec.fix}", error_code="PROVIDER_BAD_KEY",
                          provider=spec.provider)
