"""What a provider plugin tells the key store about its keys (`finetune_register_providers`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

KeyCheck = Callable[[str], None]
LiveCheck = Callable[[str, Any], None]


@dataclass(frozen=True)
class ProviderSpec:
    """A provider whose key the store can hold.

    `check_format(key)` raises InvalidApiKeyError when the key cannot be one of this provider's;
    `key_pattern`, a regular expression a key must match whole, says the same to clients (the REST API
    documents it) and is checked too;
    `live_check(key, transport)` makes the provider's cheapest authenticated call (e.g. list models)
    and raises InvalidApiKeyError when the key is refused; `transport` is an HTTP transport for
    tests, None for the real network.
    """

    name: str  # the key store's name: "openai"
    label: str  # shown to people: "OpenAI"
    env_var: str | None = None  # where the key is read when the store holds none
    check_format: KeyCheck | None = None
    live_check: LiveCheck | None = None
    prefix: str = ""  # the public start of its keys ("sk-ant-"), kept when masking
    key_pattern: str | None = None  # what a whole key matches (Python `re` and ECMA 262 alike); None: any key
