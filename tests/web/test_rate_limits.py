"""Rate limits: the headers on every response, 429 with Retry-After, per user or per address, the off switch."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest
from finetune_web import ratelimit
from finetune_web.ratelimit import MemoryStore, RateLimiter, RedisStore, parse_limit, rules_with
from finetune_web.settings import WebSettings
from flask.testing import FlaskClient
from kits.web_api import PASSWORD, Account, assert_error

HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
NOW = 1_800_000_000.0  # a window start for every default window


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """The limiter's clock stands still (a test must not straddle two windows); move it with `.now`."""
    clock = SimpleNamespace(now=NOW + 10)
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: clock.now, monotonic=time.monotonic))
    return clock


@pytest.fixture
def limited(make_app, frozen_clock: SimpleNamespace) -> FlaskClient:
    return make_app(rate_limits=True).test_client()


def test_every_response_carries_the_headers(limited: FlaskClient) -> None:
    responses = [limited.get("/health"), limited.get("/api/nowhere"), limited.get("/api/projects"),
                 limited.post("/api/auth/register", json={}), limited.delete("/api/projects")]
    assert [response.status_code for response in responses] == [200, 404, 401, 422, 405]
    for response in responses:
        assert all(name in response.headers for name in HEADERS), response.headers
    assert limited.get("/health").headers["X-RateLimit-Limit"] == "60"
    assert int(limited.get("/health").headers["X-RateLimit-Reset"]) == NOW + 60


def test_login_allows_5_per_15_minutes_then_429_with_retry_after(limited: FlaskClient, alice: Account,
                                                                 frozen_clock: SimpleNamespace) -> None:
    for attempt in range(5):
        response = limited.post("/api/auth/login", json={"email": alice.email, "password": "wrong-password"})
        assert_error(response, 401)
        assert response.headers["X-RateLimit-Remaining"] == str(4 - attempt)
    refused = limited.post("/api/auth/login", json={"email": alice.email, "password": PASSWORD})
    body = assert_error(refused, 429, "RATE_LIMITED")
    assert refused.headers["Retry-After"] == str(15 * 60 - 10)
    assert refused.headers["X-RateLimit-Remaining"] == "0" and refused.headers["X-RateLimit-Limit"] == "5"
    assert body["context"]["rule"] == "login" and body["context"]["retry_after_s"] == 890
    elsewhere = limited.post("/api/auth/signin", json={"email": alice.email, "password": PASSWORD},
                             environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert elsewhere.status_code == 200  # counted per client address
    frozen_clock.now += 15 * 60
    assert limited.post("/api/auth/login", json={"email": alice.email, "password": PASSWORD}).status_code == 200


def test_signup_allows_3_an_hour(limited: FlaskClient) -> None:
    for index in range(3):
        response = limited.post("/api/auth/register", json={"email": f"u{index}@example.com", "password": PASSWORD})
        assert response.status_code == 201
    refused = limited.post("/api/auth/signup", json={"email": "u9@example.com", "password": PASSWORD})
    assert_error(refused, 429, "RATE_LIMITED")
    assert int(refused.headers["Retry-After"]) == 3600 - 10


def test_signed_in_callers_are_counted_each_on_their_own(make_app, frozen_clock: SimpleNamespace, alice: Account,
                                                          bob: Account) -> None:
    client = make_app(rate_limits=True, rate_limit_rules={"read": "2/1m"}).test_client()
    assert [client.get("/api/projects", headers=alice.headers).status_code for _ in range(3)] == [200, 200, 429]
    assert client.get("/api/projects", headers=bob.headers).status_code == 200
    assert client.get("/api/projects").status_code == 401  # the anonymous address has its own count


def test_the_default_rules_follow_finetuneflow() -> None:
    limiter = RateLimiter(rules_with({}), MemoryStore())
    expected = {("POST", "/api/projects/p/files/upload"): ("upload", 10, 60),
                ("POST", "/api/projects/p/dataset/generate"): ("generate", 5, 60),
                ("POST", "/api/projects/p/train/start"): ("train", 3, 60),
                ("GET", "/api/projects"): ("read", 60, 60),
                ("DELETE", "/api/projects/p"): ("write", 30, 60),
                ("POST", "/api/auth/login"): ("login", 5, 900),
                ("POST", "/api/auth/signup"): ("signup", 3, 3600)}
    for (method, path), (name, limit, window) in expected.items():
        rule = limiter.rule_for(method, path)
        assert rule is not None and (rule.name, rule.limit, rule.window_s) == (name, limit, window)
    assert limiter.rule_for("OPTIONS", "/api/projects") is None


def test_rate_limits_off_turns_every_limit_off(make_app, alice: Account) -> None:
    client = make_app(rate_limits=False).test_client()
    for _ in range(8):
        response = client.post("/api/auth/login", json={"email": alice.email, "password": "wrong-password"})
        assert response.status_code == 401 and "X-RateLimit-Limit" not in response.headers


def test_settings_read_the_switch_and_the_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINETUNE_RATE_LIMITS", "off")
    monkeypatch.setenv("FINETUNE_RATE_LIMIT_LOGIN", "10/15m")
    settings = WebSettings.from_env()
    assert settings.rate_limits is False and settings.rate_limit_rules == {"login": "10/15m"}
    login = next(rule for rule in rules_with(settings.rate_limit_rules) if rule.name == "login")
    assert (login.limit, login.window_s) == (10, 900)
    monkeypatch.setenv("FINETUNE_RATE_LIMITS", "on")
    assert WebSettings.from_env().rate_limits is True


def test_limits_are_parsed_or_refused() -> None:
    assert parse_limit("5/15m") == (5, 900)
    assert parse_limit("60 / 1min") == (60, 60)
    assert parse_limit("3/h") == (3, 3600)
    assert parse_limit("100/30") == (100, 30)
    for bad in ("five/m", "5/15w", "5"):
        with pytest.raises(ValueError):
            parse_limit(bad)
    with pytest.raises(ValueError, match="no rate-limit rule"):
        rules_with({"logn": "1/1m"})


def test_redis_counts_are_shared_by_every_process() -> None:
    fakeredis = pytest.importorskip("fakeredis")
    server = fakeredis.FakeServer()
    rules = rules_with({"read": "3/1h"})
    workers = [RateLimiter(rules, RedisStore(fakeredis.FakeRedis(server=server))) for _ in range(2)]
    counts = [workers[index % 2].check("GET", "/api/projects", user="u1", address="a") for index in range(4)]
    assert [verdict.count for verdict in counts if verdict] == [1, 2, 3, 4]
    assert [verdict.allowed for verdict in counts if verdict] == [True, True, True, False]
    ttl = fakeredis.FakeRedis(server=server).ttl(next(iter(fakeredis.FakeRedis(server=server).keys())))
    assert 0 < ttl <= 3601


def test_an_unreachable_redis_lets_requests_through_quickly() -> None:
    redis = pytest.importorskip("redis")

    class Counted:
        """A real Redis client (to a port where nothing listens), counting the times it is asked."""

        def __init__(self) -> None:
            self.client, self.asked = redis.Redis.from_url("redis://127.0.0.1:1/0"), 0

        def pipeline(self) -> Any:
            self.asked += 1
            return self.client.pipeline()

    client = Counted()
    limiter = RateLimiter(rules_with({}), RedisStore(client))
    verdicts = [limiter.check("GET", "/api/projects", user=None, address="a") for _ in range(20)]
    assert all(verdict is not None and verdict.allowed for verdict in verdicts)
    assert client.asked == 1  # one failed attempt, then Redis is left alone for a while
