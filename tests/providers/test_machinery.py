"""The shared machinery: Retry-After parsing, error classification, retries, pacing, prices and usage, keys."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Sequence
from email.utils import formatdate

import pytest
from finetune_core import GenerationError, GeneratorSettings
from finetune_providers._keys import ANTHROPIC_KEY, MISTRAL_KEY, OPENAI_KEY, resolve_api_key
from finetune_providers._options import ProviderOptions
from finetune_providers._pacing import Pacer
from finetune_providers._retry import RetryPolicy, TransientError, parse_retry_after, redact, status_error, with_retries
from finetune_providers._slots import SlotPool
from finetune_providers._usage import PriceTable, UsageMeter, sum_usage
from finetune_providers.openai_compatible import OpenAICompatibleGenerator, chat_completions_url

# --- Retry-After ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("headers", "expected"), [
    ({"Retry-After": "3"}, 3.0),
    ({"retry-after": "0.25"}, 0.25),
    ({"Retry-After": "2", "retry-after-ms": "1500"}, 1.5),  # the precise header wins
    ({"Retry-After": "-4"}, 0.0),
    ({"Retry-After": "soon"}, None),
    ({}, None),
])
def test_retry_after_in_seconds(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


def test_retry_after_as_an_http_date() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after({"Retry-After": formatdate(now + 30, usegmt=True)}, now=now) == pytest.approx(30)
    assert parse_retry_after({"Retry-After": formatdate(now - 30, usegmt=True)}, now=now) == 0.0


# --- classification -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [408, 409, 425, 429, 500, 502, 503, 504, 529])
def test_rate_limits_timeouts_and_server_errors_are_transient(status: int) -> None:
    error = status_error("OpenAI", status, {"retry-after": "2"}, {"error": {"message": "busy"}})
    assert isinstance(error, TransientError)
    assert error.status == status and error.retry_after == 2.0
    assert error.message.startswith(f"HTTP {status}") and error.message.endswith(": busy")


@pytest.mark.parametrize(("status", "start"), [
    (401, "the Mistral key was refused (401); set MISTRAL_API_KEY or pass --api-key"),
    (403, "the Mistral key was refused for this model or endpoint (403)"),
    (400, "the Mistral API rejected the request (400): bad"),
    (404, "the Mistral API rejected the request (404): bad"),
    (422, "the Mistral API rejected the request (422): bad"),
    (413, "the Mistral API rejected the request (413): bad"),
])
def test_auth_and_validation_errors_are_fatal(status: int, start: str) -> None:
    error = status_error("Mistral", status, {}, {"message": "bad"}, key_hint=MISTRAL_KEY.fix)
    assert isinstance(error, GenerationError)
    assert error.message == start


def test_error_bodies_are_redacted() -> None:
    secret = "TESTKEY0123456789abcdefghijABCDE"
    body = {"error": {"message": f"key {secret} and sk-proj-abcd****wxyz are not valid"}}
    error = status_error("Mistral", 400, {}, body, secret=secret)
    assert secret not in error.args[0] and "sk-proj" not in error.args[0]
    assert redact("Bearer sk-ant-api03-AAAA1111") == "Bearer ***"


def test_ollama_style_error_bodies_are_read() -> None:
    error = status_error("OpenAI-compatible server", 404, {}, {"error": "model 'llama9' not found"})
    assert isinstance(error, GenerationError)
    assert error.message == "the OpenAI-compatible server API rejected the request (404): model 'llama9' not found"


# --- retries ---------------------------------------------------------------------------------------------------------

def _retry(policy: RetryPolicy, outcomes: Sequence[Exception | str]) -> tuple[str | Exception, list[float], int]:
    waits: list[float] = []
    calls = 0
    outcomes = list(outcomes)

    async def attempt() -> str:
        nonlocal calls
        calls += 1
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def go() -> str | Exception:
        try:
            return await with_retries(attempt, policy, sleep=sleep, rng=random.Random(1))
        except Exception as exc:
            return exc

    return asyncio.run(go()), waits, calls


def test_backoff_grows_exponentially_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy(max_attempts=8, initial_s=1.0, max_s=8.0)
    result, waits, calls = _retry(policy, [TransientError("x")] * 7 + ["ok"])
    assert result == "ok" and calls == 8
    for attempt, wait in enumerate(waits, start=1):
        step = min(8.0, 2.0 ** (attempt - 1))
        assert step / 2 <= wait <= step
    assert len(set(waits)) == len(waits)  # jittered


def test_retry_after_overrides_the_backoff_and_is_capped() -> None:
    policy = RetryPolicy(max_attempts=4, initial_s=10.0, max_retry_after_s=5.0)
    result, waits, _ = _retry(policy, [TransientError("x", retry_after=1.0), TransientError("x", retry_after=60.0),
                                       TransientError("x", retry_after=0.0), "ok"])
    assert result == "ok"
    assert 1.0 <= waits[0] <= 1.1 and 5.0 <= waits[1] <= 5.5 and waits[2] == 0.0


def test_attempts_are_limited_and_the_last_error_is_raised() -> None:
    result, waits, calls = _retry(RetryPolicy(max_attempts=3, initial_s=0.0),
                                  [TransientError("a"), TransientError("b"), TransientError("c"), "never"])
    assert isinstance(result, TransientError) and result.message == "c"
    assert calls == 3 and len(waits) == 2


def test_fatal_errors_are_not_retried() -> None:
    result, waits, calls = _retry(RetryPolicy(), [GenerationError("the OpenAI key was refused (401)"), "never"])
    assert isinstance(result, GenerationError) and calls == 1 and waits == []


# --- pacing ----------------------------------------------------------------------------------------------------------

class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def _starts(pacer: Pacer, clock: FakeClock, tokens: list[int]) -> list[float]:
    """When each of `tokens`-sized requests starts, relative to the first call (one after the other)."""
    began = clock.now
    starts = []

    async def go() -> None:
        for size in tokens:
            await pacer.acquire(size)
            starts.append(round(clock.now - began, 6))

    asyncio.run(go())
    return starts


def test_requests_per_minute_are_spread_evenly() -> None:
    clock = FakeClock()
    pacer = Pacer(requests_per_minute=120, clock=clock, sleep=clock.sleep)  # one every 0.5 s
    assert _starts(pacer, clock, [0] * 4) == [0.0, 0.5, 1.0, 1.5]
    clock.now += 10  # idle time does not bank a burst
    assert _starts(pacer, clock, [0] * 2) == [0.0, 0.5]


def test_a_burst_allowance_lets_that_many_start_together() -> None:
    clock = FakeClock()
    pacer = Pacer(requests_per_minute=60, burst_requests=3, clock=clock, sleep=clock.sleep)
    assert _starts(pacer, clock, [0] * 5) == [0.0, 0.0, 0.0, 1.0, 2.0]


def test_tokens_per_minute_space_requests_by_their_size_and_settle_corrects() -> None:
    clock = FakeClock()
    pacer = Pacer(tokens_per_minute=6000, clock=clock, sleep=clock.sleep)  # 100 tokens a second
    assert _starts(pacer, clock, [200, 50]) == [0.0, 2.0]
    pacer.settle(reserved=50, used=150)  # it used more than estimated: the next waits longer
    assert pacer.delay() == pytest.approx(1.5)  # 0.5 s for the 50 booked + 1 s for 100 more


def test_both_limits_apply_together() -> None:
    clock = FakeClock()
    pacer = Pacer(requests_per_minute=600, tokens_per_minute=600, clock=clock, sleep=clock.sleep)
    # 0.1 s a request and 10 tokens a second: the request limit binds, then the 10 tokens of the third
    assert _starts(pacer, clock, [1, 1, 10, 1]) == [0.0, 0.1, 0.2, 1.2]


def test_a_late_start_is_booked_when_it_really_happens() -> None:
    clock = FakeClock()
    pacer = Pacer(requests_per_minute=600, clock=clock, sleep=clock.sleep)

    async def stalled_sleep(seconds: float) -> None:
        clock.now += seconds + 0.35  # the event loop was busy: everyone wakes late

    pacer._sleep = stalled_sleep
    starts = _starts(pacer, clock, [0] * 4)
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(starts)]
    assert all(gap >= 0.1 for gap in gaps), gaps  # still one every 0.1 s at least: no burst after the stall


def test_no_limit_never_waits() -> None:
    pacer = Pacer()
    assert not pacer.active and pacer.delay() == 0.0


def test_paced_requests_really_stay_within_the_rate() -> None:
    """On the real clock and asyncio's sleep: the times the requests were booked (when each may start; a busy
    machine may resume a task later, never earlier) are one interval apart at least."""
    last_read = [0.0]

    def clock() -> float:
        last_read[0] = time.monotonic()
        return last_read[0]

    booked: list[float] = []

    class Booking(Pacer):
        def book(self, tokens: int = 0) -> None:
            super().book(tokens)
            booked.append(last_read[0])  # the clock's reading that this booking used

    pacer = Booking(requests_per_minute=1200, clock=clock)  # 20 a second

    async def go() -> None:
        await asyncio.gather(*(pacer.acquire() for _ in range(16)))

    asyncio.run(go())
    assert len(booked) == 16
    for first, second in itertools.pairwise(booked):
        assert second - first >= 0.05 - 1e-9  # evenly spaced, not bursts


# --- prices and usage ------------------------------------------------------------------------------------------------

def test_prices_match_dated_and_latest_model_names() -> None:
    table = PriceTable()
    assert table.lookup("gpt-4o-mini-2024-07-18") == table.prices["gpt-4o-mini"]
    assert table.lookup("gpt-4o-2024-08-06") == table.prices["gpt-4o"]
    assert table.lookup("mistral-small-latest") == table.prices["mistral-small"]
    assert table.lookup("claude-haiku-4-5-20251001") == table.prices["claude-haiku-4-5"]
    assert table.lookup("gpt-4.1-nano") == table.prices["gpt-4.1-nano"]
    assert table.lookup("gpt-4oo") is None and table.lookup("llama3.1:8b") is None and table.lookup(None) is None


def test_prices_can_be_overridden_and_extended() -> None:
    table = PriceTable({"gpt-4o-mini": {"input": 1, "output": 2}, "llama3.1": [0.01, 0.02]})
    assert table.lookup("gpt-4o-mini").cost(1_000_000, 500_000) == 2.0  # type: ignore[union-attr]
    assert table.lookup("llama3.1:8b").cost(2_000_000, 0) == pytest.approx(0.02)  # type: ignore[union-attr]
    with pytest.raises(GenerationError, match="the price of 'x' must be"):
        PriceTable({"x": "cheap"})


def test_usage_sums_across_results() -> None:
    price = PriceTable().lookup("gpt-4o-mini")
    one = UsageMeter(requests=2, retries=1, rate_limited=1, input_tokens=1000, output_tokens=200).as_dict(price)
    two = UsageMeter(requests=1, input_tokens=3000, output_tokens=800).as_dict(price)
    total = sum_usage([one, two])
    assert total == {"requests": 3, "retries": 1, "rate_limited": 1, "input_tokens": 4000, "output_tokens": 1000,
                     "cost_usd": pytest.approx((4000 * 0.15 + 1000 * 0.6) / 1e6)}
    assert "cost_usd" not in UsageMeter(requests=1).as_dict(None)


# --- keys ------------------------------------------------------------------------------------------------------------

def test_a_missing_key_says_how_to_fix_it() -> None:
    with pytest.raises(GenerationError) as caught:
        resolve_api_key(OPENAI_KEY, None)
    assert caught.value.message == "no OpenAI API key: set OPENAI_API_KEY or pass --api-key"


def test_the_key_comes_from_the_settings_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-api03-fromtheenvironment00")
    assert resolve_api_key(ANTHROPIC_KEY, None) == "sk-ant-api03-fromtheenvironment00"
    configured = " sk-ant-api03-fromthesettings000000\n"
    assert resolve_api_key(ANTHROPIC_KEY, configured) == "sk-ant-api03-fromthesettings000000"


@pytest.mark.parametrize(("spec", "key", "message"), [
    (OPENAI_KEY, "sk-ant-api03-0123456789abcdefghij", "the OpenAI API key looks like an Anthropic key (sk-ant-...)"),
    (OPENAI_KEY, "0123456789abcdef0123456789abcdef", "does not have the expected format (an OpenAI key starts with"),
    (OPENAI_KEY, "sk-short", "this one has 8 characters"),
    (ANTHROPIC_KEY, "sk-proj-0123456789abcdefghijklmn", "an Anthropic key starts with 'sk-ant-'"),
    (MISTRAL_KEY, "sk-proj-0123456789abcdefghijklmn", "a Mistral key is 32 letters and digits"),
    (MISTRAL_KEY, "0123456789abcdef0123456789abcde", "this one has 31 characters"),
    (MISTRAL_KEY, "0123456789abcdef 0123456789abcdef", "contains spaces"),
])
def test_clearly_wrong_keys_are_refused_without_being_quoted(spec: object, key: str, message: str) -> None:
    with pytest.raises(GenerationError) as caught:
        resolve_api_key(spec, key)  # type: ignore[arg-type]
    assert message in caught.value.message
    assert key not in caught.value.message and key[-8:] not in caught.value.message


def test_a_good_mistral_key_passes() -> None:
    assert resolve_api_key(MISTRAL_KEY, "0123456789abcdefABCDEF0123456789") == "0123456789abcdefABCDEF0123456789"


# --- settings --------------------------------------------------------------------------------------------------------

def test_invalid_options_are_reported_by_name() -> None:
    with pytest.raises(GenerationError, match="invalid generator settings: max_retries"):
        ProviderOptions.from_settings(GeneratorSettings(extra={"max_retries": -1}))


@pytest.mark.parametrize(("base_url", "endpoint"), [
    ("http://localhost:11434", "http://localhost:11434/v1/chat/completions"),
    ("http://localhost:11434/v1/", "http://localhost:11434/v1/chat/completions"),
    ("http://127.0.0.1:8080/v1/chat/completions", "http://127.0.0.1:8080/v1/chat/completions"),
    ("https://gateway.example/openai/v1", "https://gateway.example/openai/v1/chat/completions"),
])
def test_the_chat_completions_endpoint_under_a_base_url(base_url: str, endpoint: str) -> None:
    assert chat_completions_url(base_url) == endpoint


@pytest.mark.parametrize(("settings", "message"), [
    ({"model": "m"}, "needs the server's URL: pass --base-url"),
    ({"base_url": "http://localhost:1/v1"}, "needs a model name: pass --model NAME"),
    ({"base_url": "localhost:11434", "model": "m"}, "the base URL must be an http(s) URL"),
])
def test_openai_compatible_settings_are_checked_up_front(settings: dict[str, str], message: str) -> None:
    with pytest.raises(GenerationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        OpenAICompatibleGenerator(GeneratorSettings(**settings))


# --- HTTP slots ------------------------------------------------------------------------------------------------------

def test_slots_bound_what_is_in_flight_and_serve_retries_first() -> None:
    async def go() -> list[str]:
        pool = SlotPool(2)
        order: list[str] = []
        a, b = await pool.acquire(), await pool.acquire()
        assert {a, b} == {0, 1} and pool.free == 0

        async def wait(name: str, retry: bool) -> None:
            slot = await pool.acquire(retry=retry)
            order.append(name)
            pool.release(slot)

        tasks = [asyncio.create_task(wait("first-1", False)), asyncio.create_task(wait("first-2", False))]
        await asyncio.sleep(0)
        tasks.append(asyncio.create_task(wait("retry", True)))
        await asyncio.sleep(0)
        pool.release(a)
        pool.release(b)
        await asyncio.gather(*tasks)
        assert pool.free == 2
        return order

    assert asyncio.run(go()) == ["retry", "first-1", "first-2"]


def test_a_cancelled_waiter_does_not_lose_its_slot() -> None:
    async def go() -> int:
        pool = SlotPool(1)
        held = await pool.acquire()
        waiter = asyncio.create_task(pool.acquire())
        await asyncio.sleep(0)
        pool.release(held)  # handed to the waiter...
        waiter.cancel()  # ...which is cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await waiter
        return pool.free

    assert asyncio.run(go()) == 1
