"""Helpers for the web tests: accounts that sign up and in through the API, checks of the error body, SSE streams."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

PASSWORD = "correct horse battery"


@dataclass
class Account:
    """A user made through the API, signed in: `headers` carry its access token."""

    email: str
    password: str
    user: dict[str, Any]
    tokens: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens['access_token']}"}

    @property
    def id(self) -> str:
        return str(self.user["id"])


def sign_up(client: FlaskClient, email: str, password: str = PASSWORD, **fields: Any) -> Account:
    registered = client.post("/api/auth/register", json={"email": email, "password": password, **fields})
    assert registered.status_code == 201, registered.get_json()
    tokens = client.post("/api/auth/login", json={"email": email, "password": password})
    assert tokens.status_code == 200, tokens.get_json()
    return Account(email, password, registered.get_json(), tokens.get_json())


def assert_error(response: TestResponse, status: int, error_code: str | None = None) -> dict[str, Any]:
    """The response is an error in the one error body, with this status (and code); returns the body."""
    body = response.get_json()
    assert response.status_code == status, body
    assert isinstance(body, dict) and set(body) == {"detail", "error_code", "context"}, body
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["context"], dict)
    if error_code is not None:
        assert body["error_code"] == error_code, body
    return body


def field_errors(response: TestResponse) -> dict[str | None, str]:
    """A 422's `context.errors` as {field: message}, one entry per field."""
    body = assert_error(response, 422, "VALIDATION_ERROR")
    errors = body["context"]["errors"]
    fields = [error["field"] for error in errors]
    assert len(fields) == len(set(fields)), errors
    return {error["field"]: error["message"] for error in errors}


def parse_stream(text: str) -> list[dict[str, object]]:
    """A text/event-stream body as its events: {"id", "event", "data" (parsed JSON)}; comment lines skipped."""
    events = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":"))
        if fields:
            events.append({"id": int(fields["id"]), "event": fields["event"], "data": json.loads(fields["data"])})
    return events
