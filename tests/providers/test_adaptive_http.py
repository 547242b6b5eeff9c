"""`--concurrency auto` through the real client and generation job, against servers on 127.0.0.1.

A server that serves at most 6 requests at once (429 beyond, at once) is found out: the job settles
just under it with few 429s and loses nothing. A server that announces its budget in OpenAI's
rate-limit headers is not pushed into 429s: requests wait for the budget's reset instead. The
statistics of the controller against many kinds of server are in test_adaptive.py.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from finetune_core import Workspace
from finetune_core.generation.base import GeneratorSettings
from kits.chat_completions import Action, Call, chat_server, generated, text_project

FAST_RETRIES = {"retry_initial_s": 0.02, "retry_max_s": 0.1}
SERVICE_S = 0.2


class CapacityLimit:
    """At most `slots` requests served at once; one more is answered 429 at once (a gateway's limit)."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.in_flight = self.peak = self.refused = self.served = 0
        self.lock = threading.Lock()

    def __call__(self, call: Call) -> Action:
        with self.lock:
            if self.in_flight >= self.slots:
                self.refused += 1
                return Action(429, body={"error": {"message": "Too many concurrent requests"}})
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        time.sleep(SERVICE_S)  # the server at work (a handler thread of the threaded server)
        with self.lock:
            self.in_flight -= 1
            self.served += 1
        return Action()


def _auto(url: str, **extra: Any) -> dict[str, Any]:
    return {"base_url": url, "concurrency": "auto", "extra": {**FAST_RETRIES, **extra}}


def test_auto_settles_under_a_servers_capacity_with_few_429s_and_loses_nothing(
        finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project_id = text_project(ws, "capacity", 40)
    limit = CapacityLimit(6)
    with chat_server(limit) as server:
        job = ws.generate(project_id, target=40 * 2 * 4, examples_per_chunk=2, settings=_auto(server.url))
    summary = job.result_summary
    assert summary["failed_requests"] == 0 and summary["new_examples"] == 320 == len(generated(ws, project_id))
    assert limit.served == summary["requests"] == 160
    report = summary["concurrency"]
    assert report["mode"] == "auto" and report["rate_limited"] == limit.refused
    assert report["limit_found"] is not None and 6 < report["limit_found"] <= 9  # the client counts a little high
    assert 5 <= report["level"] <= 8
    assert limit.peak == 6
    # beside a fixed guess of 16 against the same server: far fewer 429s (the bench measures it at scale)
    fixed = CapacityLimit(6)
    other = text_project(ws, "capacity-fixed", 40)
    with chat_server(fixed) as server:
        ws.generate(other, target=40 * 2 * 4, examples_per_chunk=2,
                    settings={"base_url": server.url, "concurrency": 16, "extra": {**FAST_RETRIES, "max_retries": 30}})
    assert limit.refused < fixed.refused / 2, (limit.refused, fixed.refused)


def test_a_fixed_concurrency_keeps_todays_behaviour(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project_id = text_project(ws, "fixed", 8)
    limit = CapacityLimit(2)
    with chat_server(limit) as server:
        job = ws.generate(project_id, target=16, examples_per_chunk=2,
                          settings={"base_url": server.url, "concurrency": 4, "extra": FAST_RETRIES})
    assert "concurrency" not in job.result_summary  # nothing adaptive ran
    assert limit.refused > 0  # four kept in flight against two slots, whatever the answers


class AnnouncedBudget:
    """`budget` requests per window of `window_s`, announced in OpenAI's headers; beyond it, 429."""

    def __init__(self, budget: int, window_s: float) -> None:
        self.budget = budget
        self.window_s = window_s
        self.lock = threading.Lock()
        self.window_start = time.monotonic()
        self.used = self.refused = self.served = 0

    def __call__(self, call: Call) -> Action:
        with self.lock:
            now = time.monotonic()
            if now - self.window_start >= self.window_s:
                self.window_start, self.used = now, 0
            reset = self.window_s - (now - self.window_start)
            refused = self.used >= self.budget
            if refused:
                self.refused += 1
            else:
                self.used += 1
                self.served += 1
            headers = {"x-ratelimit-limit-requests": str(self.budget),  # on a 429 too, as OpenAI sends them
                       "x-ratelimit-remaining-requests": str(self.budget - self.used),
                       "x-ratelimit-reset-requests": f"{reset * 1000:.0f}ms"}
        if refused:
            return Action(429, headers=headers, body={"error": {"message": "Rate limit reached for requests"}})
        return Action(headers=headers)


def test_auto_waits_for_the_announced_budget_instead_of_meeting_429s(finetune_workspace: Workspace) -> None:
    ws = finetune_workspace
    project_id = text_project(ws, "budget", 12)
    budget = AnnouncedBudget(5, 0.4)
    with chat_server(budget) as server:
        job = ws.generate(project_id, target=12 * 2 * 3, examples_per_chunk=2, settings=_auto(server.url))
    summary = job.result_summary
    assert summary["failed_requests"] == 0 and budget.served == 36
    assert summary["concurrency"]["held_for_budget"] > 0
    # the requests sent before the first headers came back can meet the limit; after that, hardly any
    assert budget.refused <= 6, budget.refused

    blind = AnnouncedBudget(5, 0.4)
    other = text_project(ws, "budget-fixed", 12)
    with chat_server(blind) as server:
        ws.generate(other, target=12 * 2 * 3, examples_per_chunk=2,
                    settings={"base_url": server.url, "concurrency": 8, "extra": FAST_RETRIES})
    assert blind.refused > budget.refused  # a fixed concurrency reads no header: it meets the limit instead


def test_concurrency_is_a_number_or_auto() -> None:
    assert GeneratorSettings(concurrency="auto").fixed_concurrency is None
    assert GeneratorSettings(concurrency=12).fixed_concurrency == 12
    assert GeneratorSettings().concurrency is None
