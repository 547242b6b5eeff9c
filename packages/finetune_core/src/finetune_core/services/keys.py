"""Use cases on provider API keys: store (encrypted), list (masked), delete, check, and resolve for use.

A key belongs to an owner (a user id of the REST app; "" for the local single user) and a
provider registered by a plugin (`finetune_register_providers`). Reads return `ProviderKey`
(masked); only `resolve_key` returns the key itself, for a generator or trainer about to call
the provider. Keys never appear in errors or logs.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from finetune_core.domain import ProviderKey
from finetune_core.errors import InvalidApiKeyError, NotFoundError, UnknownPluginError
from finetune_core.keys.cipher import KeyCipher, mask_key, workspace_secret
from finetune_core.keys.provider import ProviderSpec

if TYPE_CHECKING:
    from finetune_core.ports import WorkspacePort

LOCAL_OWNER = ""


def _owner(owner_id: str | None) -> str:
    return owner_id or LOCAL_OWNER


def cipher(workspace: WorkspacePort) -> KeyCipher:
    return KeyCipher(workspace.settings.secret_key or workspace_secret(workspace.root))


def provider_spec(workspace: WorkspacePort, provider: str) -> ProviderSpec:
    try:
        spec: ProviderSpec = workspace.plugins.providers.get(provider)
    except UnknownPluginError:
        known = ", ".join(workspace.plugins.providers.names()) or "none installed"
        raise UnknownPluginError(f"unknown provider '{provider}' (known: {known})", provider=provider) from None
    return spec


def check_format(spec: ProviderSpec, key: str) -> str:
    """The key stripped of surrounding spaces, or InvalidApiKeyError naming the provider (never the key)."""
    key = key.strip()
    if not key:
        raise InvalidApiKeyError(f"the {spec.label} API key is empty", provider=spec.name)
    if any(char.isspace() for char in key) or not key.isprintable():
        raise InvalidApiKeyError(f"the {spec.label} API key contains spaces or control characters: paste it again",
                                 provider=spec.name)
    if spec.check_format is not None:
        spec.check_format(key)
    if spec.key_pattern is not None and re.fullmatch(spec.key_pattern, key) is None:
        raise InvalidApiKeyError(f"the {spec.label} API key does not have the expected format", provider=spec.name)
    return key


def set_key(workspace: WorkspacePort, provider: str, key: str, *,
            owner_id: str | None = None) -> tuple[ProviderKey, bool]:
    """Store (or replace) the key after its format check; True when it is new."""
    spec = provider_spec(workspace, provider)
    key = check_format(spec, key)
    encrypted = cipher(workspace).encrypt(key)
    with workspace.unit_of_work() as uow:
        return uow.provider_keys.put(_owner(owner_id), spec.name, encrypted, mask_key(key, spec.prefix))


def list_keys(workspace: WorkspacePort, *, owner_id: str | None = None) -> list[ProviderKey]:
    with workspace.unit_of_work() as uow:
        return uow.provider_keys.of_owner(_owner(owner_id))


def delete_key(workspace: WorkspacePort, provider: str, *, owner_id: str | None = None) -> None:
    with workspace.unit_of_work() as uow:
        if not uow.provider_keys.delete(_owner(owner_id), provider):
            raise NotFoundError(f"no {provider} API key is stored", provider=provider)


def stored_key(workspace: WorkspacePort, provider: str, *, owner_id: str | None = None) -> str | None:
    """The key this workspace holds for `provider`: one given for this process (`session_keys`), else the stored one."""
    if provider in workspace.session_keys:
        return workspace.session_keys[provider]
    with workspace.unit_of_work() as uow:
        token = uow.provider_keys.encrypted(_owner(owner_id), provider)
    return cipher(workspace).decrypt(token) if token is not None else None


def resolve_key(workspace: WorkspacePort, provider: str, *, owner_id: str | None = None) -> str | None:
    """The key to call `provider` with: this process's, else the stored one, else its environment variable."""
    key = stored_key(workspace, provider, owner_id=owner_id)
    if key is not None:
        return key
    spec = workspace.plugins.providers.get(provider) if provider in workspace.plugins.providers else None
    if spec is not None and spec.env_var:
        return os.environ.get(spec.env_var) or None
    return None


def check_key(workspace: WorkspacePort, provider: str, *, key: str | None = None, owner_id: str | None = None,
              transport: Any | None = None) -> dict[str, Any]:
    """Check `key` (or the stored/environment one): its format, then the provider's cheapest live call.

    Returns `{"provider", "masked", "format_ok", "live": "ok" | "not_available"}`; a refused key
    raises InvalidApiKeyError.
    """
    spec = provider_spec(workspace, provider)
    key = key if key is not None else resolve_key(workspace, provider, owner_id=owner_id)
    if key is None:
        raise NotFoundError(f"no {spec.label} API key is stored or set in "
                            f"{spec.env_var or 'the environment'}", provider=provider)
    key = check_format(spec, key)
    live = "not_available"
    if spec.live_check is not None:
        spec.live_check(key, transport)
        live = "ok"
    return {"provider": spec.name, "masked": mask_key(key, spec.prefix), "format_ok": True, "live": live}
