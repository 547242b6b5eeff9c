"""The providers whose keys the workspace key store holds: format checks and a cheap live check each.

Registered through `finetune_register_providers`. The live check is the cheapest authenticated
call each API has: listing models (`GET /v1/models`) for OpenAI, Anthropic, Mistral and Together
(Fireworks AI: `GET /inference/v1/models`, its OpenAI-compatible list);
it costs nothing and tells a refused key (401/403) from a working one. Messages name the
provider, never the key.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
from finetune_core.errors import InvalidApiKeyError
from finetune_core.keys import ProviderSpec

from finetune_providers._keys import (
    ANTHROPIC_KEY,
    FIREWORKS_KEY,
    MISTRAL_KEY,
    OPENAI_COMPATIBLE_KEY,
    OPENAI_KEY,
    KeySpec,
)
from finetune_providers._retry import redact

LIVE_CHECK_TIMEOUT_S = 15.0
TOGETHER_KEY = KeySpec("Together AI", "TOGETHER_API_KEY", re.compile(r"(?:tgp_v1_)?[A-Za-z0-9_\-]{32,100}"),
                       "a Together AI key is 32 or more letters, digits, '-' or '_' (often 'tgp_v1_...')")


def _format_check(spec: KeySpec) -> Callable[[str], None]:
    from finetune_core.errors import GenerationError

    from finetune_providers._keys import check_key_format

    def check(key: str) -> None:
        try:
            check_key_format(spec, key)
        except GenerationError as exc:
            raise InvalidApiKeyError(exc.message, provider=spec.provider) from None

    return check


def _live_check(label: str, url: str, headers: Callable[[str], dict[str, str]]) -> Callable[[str, Any], None]:
    def check(key: str, transport: Any | None) -> None:
        try:
            with httpx.Client(transport=transport, timeout=LIVE_CHECK_TIMEOUT_S, trust_env=True) as client:
                response = client.get(url, headers=headers(key))
        except httpx.HTTPError as exc:
            raise InvalidApiKeyError(f"the {label} API could not be reached to check the key "
                                     f"({type(exc).__name__}); the key was not checked") from None
        if response.status_code in (401, 403):
            raise InvalidApiKeyError(f"the {label} key was refused ({response.status_code})",
                                     status=response.status_code)
        if response.status_code >= 400:
            detail = redact(response.text[:200], key)
            raise InvalidApiKeyError(f"the {label} API answered {response.status_code} to the key check: {detail}",
                                     status=response.status_code)

    return check


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _anthropic_headers(key: str) -> dict[str, str]:
    return {"x-api-key": key, "anthropic-version": "2023-06-01"}


PRINTABLE_KEY = r"[!-~]+"  # printable ASCII, no space: a key of a server of the user's own


def _pattern(spec: KeySpec) -> str:
    return spec.pattern.pattern if spec.pattern is not None else PRINTABLE_KEY


PROVIDERS = (
    ProviderSpec(name="openai", label="OpenAI", env_var=OPENAI_KEY.env_var, check_format=_format_check(OPENAI_KEY),
                 live_check=_live_check("OpenAI", "https://api.openai.com/v1/models", _bearer), prefix="sk-",
                 key_pattern=_pattern(OPENAI_KEY)),
    ProviderSpec(name="anthropic", label="Anthropic", env_var=ANTHROPIC_KEY.env_var,
                 check_format=_format_check(ANTHROPIC_KEY),
                 live_check=_live_check("Anthropic", "https://api.anthropic.com/v1/models", _anthropic_headers),
                 prefix="sk-ant-", key_pattern=_pattern(ANTHROPIC_KEY)),
    ProviderSpec(name="mistral", label="Mistral", env_var=MISTRAL_KEY.env_var, check_format=_format_check(MISTRAL_KEY),
                 live_check=_live_check("Mistral", "https://api.mistral.ai/v1/models", _bearer),
                 key_pattern=_pattern(MISTRAL_KEY)),
    ProviderSpec(name="together", label="Together AI", env_var=TOGETHER_KEY.env_var,
                 check_format=_format_check(TOGETHER_KEY),
                 live_check=_live_check("Together AI", "https://api.together.xyz/v1/models", _bearer),
                 prefix="tgp_v1_", key_pattern=_pattern(TOGETHER_KEY)),
    ProviderSpec(name="fireworks", label="Fireworks AI", env_var=FIREWORKS_KEY.env_var,
                 check_format=_format_check(FIREWORKS_KEY),
                 live_check=_live_check("Fireworks AI", "https://api.fireworks.ai/inference/v1/models", _bearer),
                 prefix="fw_", key_pattern=_pattern(FIREWORKS_KEY)),
    # a local server's key: any shape (printable), and no fixed address to check it against
    ProviderSpec(name="openai-compatible", label="OpenAI-compatible server", env_var=OPENAI_COMPATIBLE_KEY.env_var,
                 key_pattern=_pattern(OPENAI_COMPATIBLE_KEY)),
)
