"""The providers' rate-limit headers: how much of the budget is left, so `auto` slows down before a 429.

Read from every answer (a 200 as well as a 429):

- OpenAI, Together, Fireworks, many OpenAI-compatible servers: `x-ratelimit-limit-requests`,
  `x-ratelimit-remaining-requests`, `x-ratelimit-reset-requests`, and the same for `-tokens`;
  resets are durations ("1s", "6m0s", "20ms", "1h2m3.5s") or plain seconds;
- Anthropic: `anthropic-ratelimit-requests-limit/-remaining/-reset`, the same for `-tokens-` and
  `-input-tokens-`, resets given as RFC 3339 times.

`RateLimitBudget` mirrors each budget on the client: an answer sets what is left (less the other
requests already in flight, which the server had not counted when it answered), each request
sent takes its share (one request, its estimated tokens), and a request that would overdraw it
waits for the reset instead of meeting a 429. At the reset the budget is full again (its `limit`)
until the next answer says otherwise; a budget whose limit is unknown is forgotten at its reset.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?")
MAX_WAIT_S = 120.0
DEFAULT_RESET_S = 1.0


def parse_reset(value: str | None, *, now: float) -> float | None:
    """Seconds until a reset given as a duration ("6m0s", "20ms", "1.5"), or as an RFC 3339 time."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    match = _DURATION.fullmatch(text)
    if match and any(match.groups()):
        hours, minutes, seconds, millis = (float(group) if group else 0.0 for group in match.groups())
        return hours * 3600 + minutes * 60 + seconds + millis / 1000
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value.strip())
    except ValueError:
        return None


@dataclass
class _Budget:
    remaining: float
    resets_at: float  # monotonic
    limit: float | None
    window_s: float  # the longest reset announced: how long a full budget lasts, about


_HEADERS: dict[str, tuple[tuple[str, str, str], ...]] = {  # kind -> (limit, remaining, reset) header names
    "requests": (("x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests"),
                 ("anthropic-ratelimit-requests-limit", "anthropic-ratelimit-requests-remaining",
                  "anthropic-ratelimit-requests-reset")),
    "tokens": (("x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"),
               ("anthropic-ratelimit-tokens-limit", "anthropic-ratelimit-tokens-remaining",
                "anthropic-ratelimit-tokens-reset"),
               ("anthropic-ratelimit-input-tokens-limit", "anthropic-ratelimit-input-tokens-remaining",
                "anthropic-ratelimit-input-tokens-reset")),
}


class RateLimitBudget:
    """The budgets the provider announced, mirrored on the client; see the module doc."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._wall = wall
        self._budgets: dict[str, _Budget] = {}
        self.waits = 0  # requests held back before a 429

    def observe(self, headers: Mapping[str, str], *, others_in_flight: int = 0, tokens_each: int = 0) -> None:
        """Read the budgets in one answer's headers (names in any case); `others_in_flight` requests (about
        `tokens_each` tokens each) were sent and not yet counted by the server when it answered."""
        lowered = {key.lower(): value for key, value in headers.items()}
        now, wall = self._clock(), self._wall()
        for kind, names in _HEADERS.items():
            for limit_name, remaining_name, reset_name in names:
                remaining = _number(lowered.get(remaining_name))
                if remaining is None:
                    continue
                reset = parse_reset(lowered.get(reset_name), now=wall)
                reset = min(reset if reset is not None else DEFAULT_RESET_S, MAX_WAIT_S)
                previous = self._budgets.get(kind)
                window = max(reset, previous.window_s if previous else 0.0, 0.001)
                share = others_in_flight * (1 if kind == "requests" else tokens_each)
                self._budgets[kind] = _Budget(remaining - share, now + reset, _number(lowered.get(limit_name)),
                                              window)
                break

    def delay(self, *, tokens: int) -> float:
        """Seconds the next request (about `tokens` tokens) should wait; 0: it may go, and its share is taken."""
        now = self._clock()
        wait = 0.0
        for kind, budget in list(self._budgets.items()):
            if budget.resets_at <= now:
                if budget.limit is None:
                    del self._budgets[kind]  # reset, and how full it is now is unknown: forgotten
                    continue
                budget.remaining, budget.resets_at = budget.limit, now + budget.window_s
            needed = 1 if kind == "requests" else min(tokens, int(budget.limit or tokens))  # never more than all
            if budget.remaining < needed:
                wait = max(wait, budget.resets_at - now)
        if wait > 0:
            self.waits += 1
            return wait
        for kind, budget in self._budgets.items():
            budget.remaining -= 1 if kind == "requests" else tokens
        return 0.0
