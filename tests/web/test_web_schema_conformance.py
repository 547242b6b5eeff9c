"""Schemathesis against the app: requests generated from the OpenAPI document get answers that match it.

Positive data must be accepted (or refused for a reason the document allows: 401, 404, 409...), no
request, however malformed, may cause a 500, and every answer must fit its documented schema. Malformed
requests are not all required to fail: unknown query arguments are ignored on purpose. Deterministic
(derandomized) and small, so it stays fast and never flaky.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from web_testkit import Account

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.generation.modes import GenerationMode  # noqa: E402
from schemathesis.specs.openapi.checks import negative_data_rejection  # noqa: E402

EXCLUDED = {GenerationMode.POSITIVE: [], GenerationMode.NEGATIVE: [negative_data_rejection]}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_keeps_to_the_document(app: Flask, client: FlaskClient, alice: Account,
                                               mode: GenerationMode) -> None:
    client.post("/api/projects", json={"name": "for the fuzzer"}, headers=alice.headers)
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and not (operation.body or operation.query or operation.path_parameters):
            continue  # nothing to get wrong

        @settings(max_examples=10, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(mode))
        def check(case: object) -> None:
            case.call_and_validate(headers=alice.headers, excluded_checks=EXCLUDED[mode])  # type: ignore[attr-defined]

        try:
            check()
        except Exception as failure:  # every operation's failure is reported together
            failures[operation.label] = str(failure)[:1500]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
