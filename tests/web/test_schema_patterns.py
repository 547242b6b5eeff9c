"""The patterns of the OpenAPI document against the server's own checks: whatever a pattern matches, the server
accepts (so a client that keeps to the document is never refused), and what the server refuses, it does not match.

Drawn with Hypothesis from each pattern, derandomized; no DNS is asked (a host that does not resolve is accepted
when a URL is given: only its fetch fails).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from finetune_core.services import keys
from finetune_core.services.model_access import Origin, check_base_model
from finetune_core.sources.fetch import check_url
from finetune_core.sources.youtube import video_id
from finetune_core.workspace import Workspace
from finetune_web.schemas.models import NUMBER_TEXT
from finetune_web.schemas.sources import ScrapeBody, TranscriptBody
from finetune_web.schemas.training import ModelRef
from finetune_web.schemas.urls import PUBLIC_URL_PATTERN, VIDEO_URL_PATTERN
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

jsonschema_rs = pytest.importorskip("jsonschema_rs")  # schemathesis's validator: ECMA 262 patterns, formats

DRAWS = settings(max_examples=300, derandomize=True, database=None, deadline=None,
                 suppress_health_check=list(HealthCheck))
REFUSED_URLS = ["0", "http://0", "ftp://example.com/x", "file:///etc/passwd", "http://localhost/", "http://a.localhost",
                "http://10.0.0.7/admin", "http://169.254.169.254/latest", "http://[fd12::1]/", "http://metadata.goog/",
                "http://METADATA.google.internal/x", "http://user:pw@example.com/", "http://example.com:99999/",
                "http://exa mple.com/", "https://example.123/"]


def no_dns(host: str, port: int) -> list[str]:
    raise OSError("no DNS in this test")


def documented(pattern: str) -> st.SearchStrategy[str]:
    return st.from_regex(pattern, fullmatch=True)


def test_the_document_shows_the_url_patterns() -> None:
    assert ScrapeBody.model_json_schema()["properties"]["url"]["pattern"] == PUBLIC_URL_PATTERN
    assert TranscriptBody.model_json_schema()["properties"]["video_url"]["pattern"] == VIDEO_URL_PATTERN


@DRAWS
@given(documented(PUBLIC_URL_PATTERN).filter(lambda url: len(url) <= 2048))
def test_every_url_the_pattern_matches_is_a_uri_the_server_accepts(url: str) -> None:
    assert jsonschema_rs.validator_for({"format": "uri"}, validate_formats=True).is_valid(url)
    check_url(url, resolver=no_dns)  # raises UrlNotAllowedError for a URL the server refuses


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_a_url_the_server_refuses_does_not_match(url: str) -> None:
    assert jsonschema_rs.validator_for({"pattern": PUBLIC_URL_PATTERN}).is_valid(url) is False


@DRAWS
@given(documented(VIDEO_URL_PATTERN))
def test_every_video_url_the_pattern_matches_is_a_youtube_video(url: str) -> None:
    assert video_id(url) is not None


@DRAWS
@given(st.data())
def test_every_key_a_provider_documents_passes_its_format_check(data: st.DataObject) -> None:
    from finetune_core.plugins import registries

    specs = [spec for spec in registries().providers if spec.key_pattern]
    assert {"openai", "anthropic", "mistral", "together", "openai-compatible"} <= {spec.name for spec in specs}
    spec = data.draw(st.sampled_from(specs))
    key = data.draw(documented(spec.key_pattern).filter(lambda key: len(key) <= 4096))
    assert keys.check_format(spec, key) == key


def test_a_model_name_the_document_allows_is_one_the_server_takes(workspace: Workspace, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    pattern = TypeAdapter(ModelRef).json_schema()["pattern"]
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path / "empty")  # a name that is a path on the server is refused: here, none is

    @DRAWS
    @given(documented(pattern).filter(lambda name: len(name) <= 300))
    def check(name: str) -> None:
        assert check_base_model(workspace, name, origin=Origin.REMOTE, owner_id=None) == name

    check()
    for refused in ("/etc", "../models", "a/b/c", "-rf"):
        assert re.match(pattern, refused) is None


@DRAWS
@given(documented(NUMBER_TEXT))
def test_a_score_written_as_text_is_a_finite_number(text: str) -> None:
    assert math.isfinite(float(text))
