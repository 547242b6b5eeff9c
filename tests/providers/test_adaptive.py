"""`--concurrency auto` (finetune_providers._adaptive): the controller against simulated servers, in virtual time.

A discrete-event simulation stands for the HTTP: a server that serves at most `capacity` requests at
once and answers 429 at once beyond them, and/or answers a share of requests 429 whatever its load;
requests retried after the shared backoff; slots handed out as the real `SlotPool` does, retries first.
The real client against a real server on 127.0.0.1 is in test_adaptive_http.py and benchmarks/.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import deque
from dataclasses import dataclass, field

import pytest
from finetune_providers._adaptive import ConcurrencyController

LATENCY = 0.2
REFUSAL_S = 0.002  # a 429 comes back at once


@dataclass
class Outcome:
    seconds: float
    refused: int
    over_capacity: int
    controller: ConcurrencyController
    levels: list[int] = field(default_factory=list)

    def capacity_share(self, capacity: int, requests: int) -> float:
        return requests / self.seconds / (capacity / LATENCY)


def simulate(requests: int, *, capacity: int | None, noise: float = 0.0, seed: int = 1,
             change_at: float | None = None, new_capacity: int | None = None, lag_s: float = 0.0) -> Outcome:
    """`lag_s`: a busy client reads each answer up to this long after the server sent it (its count of requests
    in flight is then above the server's)."""
    rng = random.Random(seed)
    controller = ConcurrencyController(maximum=256)
    events: list[tuple[float, int, str, int, int, bool]] = []  # (time, order, kind, request, ticket, refused)
    order = itertools.count()
    waiting_retries: deque[int] = deque()
    waiting_first: deque[int] = deque(range(requests))
    in_use = 0
    at_server = 0
    now = 0.0
    refused = over = done = 0
    attempts = [0] * requests
    levels = []

    def latency() -> float:  # a server's answers are not all equally long
        return LATENCY * rng.uniform(0.9, 1.1)

    def fill() -> None:
        nonlocal in_use, at_server, refused, over
        while in_use < controller.limit and (waiting_retries or waiting_first):
            request = waiting_retries.popleft() if waiting_retries else waiting_first.popleft()
            in_use += 1
            level = in_use
            levels.append(level)
            ticket = controller.sent(level)
            limit = new_capacity if change_at is not None and now >= change_at else capacity
            if limit is not None and at_server >= limit:
                over += 1
                heapq.heappush(events, (now + REFUSAL_S, next(order), "answer", request, ticket, True))
            elif noise and rng.random() < noise:
                heapq.heappush(events, (now + REFUSAL_S, next(order), "answer", request, ticket, True))
            else:
                at_server += 1
                heapq.heappush(events, (now + latency(), next(order), "served", request, ticket, False))

    fill()
    while done < requests:
        now, _, kind, request, ticket, was_refused = heapq.heappop(events)
        if kind == "retry":
            waiting_retries.append(request)
        elif kind == "served":  # the server is done with it; the client reads it a little later
            at_server -= 1
            heapq.heappush(events, (now + rng.uniform(0, lag_s), next(order), "answer", request, ticket, False))
            continue
        else:
            in_use -= 1
            if was_refused:
                refused += 1
                attempts[request] += 1
                controller.refused(ticket)
                step = min(30.0, 0.5 * 2 ** (attempts[request] - 1))
                heapq.heappush(events, (now + step / 2 + rng.uniform(0, step / 2), next(order), "retry", request,
                                        0, False))
            else:
                done += 1
                saturated = in_use + 1 >= controller.limit or bool(waiting_retries or waiting_first)
                controller.answered(ticket, LATENCY, saturated=saturated)
        fill()
    return Outcome(now, refused, over, controller, levels)


def test_against_a_hard_capacity_it_settles_just_under_it_with_few_429s() -> None:
    outcome = simulate(3000, capacity=32)
    assert outcome.controller.limit == 32 and outcome.controller.ceiling == 33
    assert outcome.capacity_share(32, 3000) >= 0.9
    assert outcome.refused / 3000 < 0.02


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_429s_are_told_apart_from_a_limit(seed: int) -> None:
    outcome = simulate(3000, capacity=32, noise=0.10, seed=seed)
    assert outcome.capacity_share(32, 3000) >= 0.8, outcome.controller.report()
    assert 0.06 < outcome.controller.report()["noise_rate"] < 0.14


def test_noise_alone_does_not_hold_it_down() -> None:
    outcome = simulate(3000, capacity=None, noise=0.10)
    assert outcome.controller.peak >= 64, outcome.controller.report()


def test_a_capacity_that_falls_is_followed_down_and_one_that_rises_is_found_again() -> None:
    outcome = simulate(4000, capacity=32, change_at=5.0, new_capacity=8)
    assert outcome.controller.limit <= 8 and outcome.refused / 4000 < 0.05
    rising = simulate(6000, capacity=8, change_at=3.0, new_capacity=32)
    assert rising.controller.limit >= 28, rising.controller.report()


def test_a_slow_server_stops_the_growth() -> None:
    controller = ConcurrencyController(start=4)
    for _ in range(20):
        controller.answered(controller.sent(controller.limit), 0.2)
    grown = controller.limit
    for _ in range(50):
        controller.answered(controller.sent(controller.limit), 1.0)  # five times slower: a server queueing
    assert controller.limit <= grown + 3 and controller.refusals == 0
