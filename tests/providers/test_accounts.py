"""The providers' key-store entries: format checks per provider, and live checks faked at the HTTP boundary."""

from __future__ import annotations

import httpx
import pytest
from finetune_core import Workspace
from finetune_core.errors import InvalidApiKeyError
from finetune_core.services import keys
from finetune_providers.accounts import PROVIDERS

SPECS = {spec.name: spec for spec in PROVIDERS}
GOOD = {
    "openai": "sk-proj-TESTKEY0123456789abcdefghij",
    "anthropic": "sk-ant-api03-TESTKEY0123456789abcdefghij",
    "mistral": "TESTKEY0123456789abcdefghijABCDE",
    "together": "tgp_v1_TESTKEY0123456789abcdefghijABCDEFGH",
}


def test_every_provider_is_registered_through_the_plugin(finetune_workspace: Workspace) -> None:
    assert {"openai", "anthropic", "mistral", "together", "openai-compatible"} <= set(
        finetune_workspace.plugins.providers.names())


@pytest.mark.parametrize(("provider", "bad", "says"), [
    ("openai", "sk-ant-api03-TESTKEY0123456789abcdefghij", "looks like an Anthropic key"),
    ("openai", "pk-TESTKEY0123456789", "starts with 'sk-'"),
    ("anthropic", "sk-proj-TESTKEY0123456789abcdefghij", "starts with 'sk-ant-'"),
    ("mistral", "TESTKEY0123", "32 letters and digits"),
    ("together", "short", "32 or more"),
])
def test_a_key_of_the_wrong_shape_is_refused_naming_the_provider(finetune_workspace: Workspace, provider: str,
                                                                  bad: str, says: str) -> None:
    with pytest.raises(InvalidApiKeyError, match=says) as excinfo:
        keys.set_key(finetune_workspace, provider, bad)
    assert bad not in excinfo.value.message
    assert keys.list_keys(finetune_workspace) == []


@pytest.mark.parametrize("provider", sorted(GOOD))
def test_well_formed_keys_are_stored_masked(finetune_workspace: Workspace, provider: str) -> None:
    stored, _ = keys.set_key(finetune_workspace, provider, GOOD[provider])
    assert stored.masked.endswith(GOOD[provider][-4:]) and GOOD[provider] not in stored.masked
    assert keys.resolve_key(finetune_workspace, provider) == GOOD[provider]


def _transport(status: int, seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json={"data": []} if status == 200 else
                              {"error": {"message": f"Incorrect API key provided: {GOOD['openai'][:12]}..."}})

    return httpx.MockTransport(handle)


@pytest.mark.parametrize(("provider", "url", "header"), [
    ("openai", "https://api.openai.com/v1/models", "authorization"),
    ("anthropic", "https://api.anthropic.com/v1/models", "x-api-key"),
    ("mistral", "https://api.mistral.ai/v1/models", "authorization"),
    ("together", "https://api.together.xyz/v1/models", "authorization"),
])
def test_the_live_check_lists_models_with_the_key(provider: str, url: str, header: str) -> None:
    seen: list[httpx.Request] = []
    live = SPECS[provider].live_check
    assert live is not None
    live(GOOD[provider], _transport(200, seen))
    assert str(seen[0].url) == url and seen[0].method == "GET"
    assert GOOD[provider] in seen[0].headers[header]


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_says_so_without_quoting_it(status: int) -> None:
    live = SPECS["openai"].live_check
    assert live is not None
    with pytest.raises(InvalidApiKeyError, match=f"the OpenAI key was refused \\({status}\\)") as excinfo:
        live(GOOD["openai"], _transport(status, []))
    assert GOOD["openai"][:12] not in excinfo.value.message


def test_an_unreachable_api_is_not_taken_for_a_refused_key() -> None:
    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    live = SPECS["mistral"].live_check
    assert live is not None
    with pytest.raises(InvalidApiKeyError, match="could not be reached"):
        live(GOOD["mistral"], httpx.MockTransport(drop))


def test_check_key_runs_the_live_check_of_the_stored_key(finetune_workspace: Workspace) -> None:
    seen: list[httpx.Request] = []
    keys.set_key(finetune_workspace, "openai", GOOD["openai"])
    result = keys.check_key(finetune_workspace, "openai", transport=_transport(200, seen))
    assert result == {"provider": "openai", "masked": "sk-…ghij", "format_ok": True, "live": "ok"}
    assert len(seen) == 1
