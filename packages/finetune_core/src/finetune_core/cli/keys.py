"""`finetune keys ...`: provider API keys in the workspace's encrypted store (shown masked)."""

from __future__ import annotations

import click

from finetune_core.cli.common import emit, handle_errors, make_table, state
from finetune_core.services import keys as keys_service


@click.group()
def keys() -> None:
    """Store, list, check and delete provider API keys (encrypted at rest, always shown masked)."""


@keys.command("set")
@click.argument("provider")
@click.option("--key", "key", default=None, help="The key; by default read from a hidden prompt or stdin "
                                                 "(which keeps it out of the shell history).")
@handle_errors
def set_key(provider: str, key: str | None) -> None:
    """Store the key of PROVIDER (openai, anthropic, mistral, together, fireworks, ...), after its format check."""
    if key is None:
        key = click.prompt(f"{provider} API key", hide_input=True, err=True)
    stored, created = keys_service.set_key(state().workspace, provider, key)
    emit(stored, message=f"{'Stored' if created else 'Replaced'} the {stored.provider} key {stored.masked}")


@keys.command("list")
@handle_errors
def list_keys() -> None:
    """The stored keys, masked."""
    items = keys_service.list_keys(state().workspace)
    rows = [(k.provider, k.masked, k.updated_at.isoformat(timespec="seconds")) for k in items]
    emit({"items": items, "total": len(items)}, make_table("Provider keys", ["provider", "key", "updated"], rows))


@keys.command("check")
@click.argument("provider")
@handle_errors
def check(provider: str) -> None:
    """Check the stored (or environment) key of PROVIDER: its format, then a cheap call to the provider."""
    result = keys_service.check_key(state().workspace, provider)
    live = "accepted by the provider" if result["live"] == "ok" else "format only (no live check for this provider)"
    emit(result, message=f"The {provider} key {result['masked']} is valid: {live}")


@keys.command("delete")
@click.argument("provider")
@handle_errors
def delete(provider: str) -> None:
    """Delete the stored key of PROVIDER."""
    keys_service.delete_key(state().workspace, provider)
    emit({"deleted": provider}, message=f"Deleted the {provider} key")
