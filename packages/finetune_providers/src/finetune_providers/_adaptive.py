"""`--concurrency auto`: how many requests to keep in flight, learnt from the server's answers.

A fixed concurrency needs a human to guess the server's capacity: too low leaves it idle, too
high meets a wall of 429s. `ConcurrencyController` starts low (4), grows while answers come back
clean and fast, and settles one request under the level the server refuses. It tells two kinds
of 429 apart, which a plain AIMD cannot (it cuts on every 429, so a server that answers a random
10 % of requests 429 whatever its load drives it down to a few requests at a time):

- **a capacity limit**: requests sent while `n` or more are in flight are refused, fewer are not;
- **noise**: a share `p` of requests is refused at every level.

Each attempt is registered as it is sent (`sent(level)`, a ticket), with its *level*: the number
in flight at that moment, itself included. A refusal opens a sequential test (Wald's SPRT) of
"requests sent at this level are refused at a rate `q1` well above the noise rate `p0`" (`p0`
measured on the attempts sent at half the level or less, from a prior of 1 in 10; `q1` five times
`p0`, at least 0.4). Meanwhile the limit is
held at the tested level, so the test gets evidence and nothing is sent above it. The evidence is
the attempts sent *after* the test opened, read in the order they were sent: a 429 comes back in
milliseconds and a success after the whole latency, so reading them as they arrive would put a
burst of noise refusals ahead of the successes sent beside them and read noise as a limit. (The
verdict is reached early where the outcomes still out could not change it, so a slow answer
ahead does not hold the limit at a level that refuses everything sent meanwhile.) `q1` is not near
1 because the level is counted by the client: answers it has not read yet still count as in
flight, so just over the limit only some requests are refused. Noise is the same at every level,
so it is measured far below the tested one (at half of it or less): the levels just below may be
over the limit too, and noise measured there would grow with the limit's refusals until a limit
looked like noise.

- Evidence for a limit (a likelihood ratio of 1000; against a hard limit, four or five refusals):
  the controller settles one under the tested level (the *ceiling*); a second limit before a
  clean stretch steps twice as far down, then four times... (a capacity that fell).
- Evidence for noise (a ratio of 10 the other way; a few successes): the limit goes back
  where it was and growth goes on.

Growth: one more request per success (doubling per round of answers) until the first limit, then
one per round. Once a ceiling is known, the limit stays under it; after a clean stretch (64
successes, doubled after each failed probe) the ceiling's level is probed with a test opened
beforehand: noise there means the capacity rose, and growth starts over. Growth also waits while
the recent latency is over twice the best seen: a server that queues instead of refusing (vLLM,
Ollama) slows down when it is full.

The provider's rate-limit headers, which say how much of the minute's budget is left, are read
by `_ratelimits.RateLimitBudget`, which holds requests back before a 429 rather than after.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Literal

START = 4
MAXIMUM = 256
H1_REFUSED = 0.4  # the least refusal rate of levels over a capacity limit, as the test assumes it
H1_TIMES_NOISE = 5.0
NOISE_SHARE = 0.5  # the noise rate at a level is measured on the levels up to half of it
MIN_NOISE = 0.03  # the noise rate assumed at least
PRIOR_REFUSED, PRIOR_SENT = 2.0, 20.0  # the noise prior: 1 in 10, worth 20 attempts
LIMIT_LLR = math.log(1000.0)
NOISE_LLR = -math.log(10.0)
PROBE_GAP = 64  # clean successes under the ceiling before its level is probed (doubles per failed probe)
MAX_PROBE_DOUBLINGS = 6
LATENCY_ALPHA = 0.2
SLOW_FACTOR = 2.0
LATENCY_WARMUP = 8

Outcome = Literal["answered", "refused", "neither"]


@dataclass
class _Test:
    """An open sequential test: are requests sent at `level` or above refused because of a limit?"""

    level: int
    probe: bool  # opened by a probe of the ceiling rather than by a refusal
    resume: int  # the limit to go back to if the refusals were noise
    llr: float = 0.0
    evidence: deque[int] = field(default_factory=deque)  # tickets sent at `level` or above since it opened
    outcomes: dict[int, Outcome] = field(default_factory=dict)  # their outcomes, read in the order sent


@dataclass
class ConcurrencyController:
    """The concurrency limit of one run: told of each attempt as it is sent and as it ends. See the module doc."""

    start: int = START
    maximum: int = MAXIMUM
    limit: int = field(init=False)
    ceiling: int | None = field(default=None, init=False)  # the lowest level found refused for capacity
    peak: int = field(init=False)
    refusals: int = field(default=0, init=False)  # 429 and 503 answers, limit and noise together
    limits_found: int = field(default=0, init=False)
    _test: _Test | None = field(default=None, init=False)
    _tickets: int = field(default=0, init=False)
    _levels: dict[int, int] = field(default_factory=dict, init=False)  # ticket -> level, while in flight
    _growth: float = field(default=0.0, init=False)
    _limited: bool = field(default=False, init=False)  # a limit was met: growth is additive until a probe passes
    _step: int = field(default=1, init=False)
    _clean: int = field(default=0, init=False)
    _probe_doublings: int = field(default=0, init=False)
    _sent_at: Counter[int] = field(default_factory=Counter, init=False)  # attempts answered or refused, per level
    _refused_at: Counter[int] = field(default_factory=Counter, init=False)
    _latency: float | None = field(default=None, init=False)
    _best_latency: float | None = field(default=None, init=False)
    _answered: int = field(default=0, init=False)
    _sent_under: Counter[int] = field(default_factory=Counter, init=False)  # attempts sent per limit in force

    def __post_init__(self) -> None:
        self.start = max(1, min(self.start, self.maximum))
        self.limit = self.peak = self.start

    # --- what the client reports -------------------------------------------------------------------
    def sent(self, level: int) -> int:
        """An attempt goes out with `level` requests in flight (itself included); its ticket for what follows."""
        self._tickets += 1
        ticket = self._tickets
        self._levels[ticket] = level
        self._sent_under[self.limit] += 1
        test = self._test
        if test is not None and level >= test.level:
            test.evidence.append(ticket)
        return ticket

    def answered(self, ticket: int, seconds: float | None = None, *, saturated: bool = True) -> None:
        """The attempt was answered, in `seconds`; `saturated`: every allowed slot was in use (growing means
        something only when the limit is what holds requests back)."""
        level = self._levels.pop(ticket, 0)
        self._sent_at[level] += 1
        self._answered += 1
        if seconds is not None:
            self._observe_latency(seconds)
        test = self._test
        if test is not None:
            self._settle_test(ticket, "answered")
            if self._test is test and saturated and not test.probe and self.ceiling is None:
                self._grow_additively()  # a test at every noise refusal must not stall the ramp
            return
        if saturated:
            self._clean += 1
            self._grow()

    def refused(self, ticket: int) -> None:
        """The attempt was answered 429 or 503 (or 529): a limit, or noise."""
        level = self._levels.pop(ticket, 0)
        self._sent_at[level] += 1
        self._refused_at[level] += 1
        self.refusals += 1
        self._clean = 0
        test = self._test
        if test is not None:
            self._settle_test(ticket, "refused")
            return
        if self.ceiling is not None and level >= self.ceiling:
            return  # sent over a limit already found, before the limit came down: nothing new
        # the refusal that opens a test is not evidence in it (it was chosen for being one); noise if the test says so
        self._test = _Test(level=level, probe=False, resume=self.limit)
        self._set_limit(min(self.limit, level))

    def ended(self, ticket: int) -> None:
        """The attempt ended otherwise (another error, cancelled): no evidence either way."""
        self._levels.pop(ticket, None)
        if self._test is not None:
            self._settle_test(ticket, "neither")

    # --- what the summary shows -----------------------------------------------------------------
    @property
    def attempts(self) -> int:
        """The attempts sent so far."""
        return self._tickets

    def report(self) -> dict[str, Any]:
        """For the job's summary: the level settled on (the limit most requests were sent under), the last and the
        highest, the limit found (None: none met) and the 429s met."""
        settled = self._sent_under.most_common(1)[0][0] if self._sent_under else self.limit
        return {"mode": "auto", "level": settled, "final": self.limit, "peak": self.peak, "limit_found": self.ceiling,
                "rate_limited": self.refusals, "noise_rate": round(self._p0(settled + 1), 4)}

    # --- the decisions --------------------------------------------------------------------------
    def _settle_test(self, ticket: int, outcome: Outcome) -> None:
        """Record an outcome; apply those of the test's evidence whose turn has come, in the order sent."""
        test = self._test
        assert test is not None
        if ticket not in test.outcomes and ticket in test.evidence:
            test.outcomes[ticket] = outcome
        if self._decided_early(test):
            return
        while test.evidence and test.evidence[0] in test.outcomes:
            result = test.outcomes.pop(test.evidence.popleft())
            if result == "neither":
                continue
            if result == "refused":
                test.llr += math.log(self._q1(test.level) / self._p0(test.level))
            else:
                test.llr += math.log((1.0 - self._q1(test.level)) / (1.0 - self._p0(test.level)))
            if test.llr >= LIMIT_LLR:
                self._limit_at(test)
                return
            if test.llr <= NOISE_LLR:
                self._noise(test)
                return

    def _decided_early(self, test: _Test) -> bool:
        """Decide before the outcomes ahead in send order are in, where they cannot change the verdict: a slow
        answer ahead must not hold the limit at a level that refuses everything sent meanwhile."""
        if not test.outcomes:
            return False
        p0, q1 = self._p0(test.level), self._q1(test.level)
        refused_step = math.log(q1 / p0)
        answered_step = math.log((1.0 - q1) / (1.0 - p0))
        known = list(test.outcomes.values())
        refused = known.count("refused")
        answered = known.count("answered")
        unknown = sum(1 for ticket in test.evidence if ticket not in test.outcomes)
        base = test.llr + refused * refused_step + answered * answered_step
        if base + unknown * answered_step >= LIMIT_LLR:  # even if every outcome still out is an answer
            self._limit_at(test)
            return True
        if base + unknown * refused_step <= NOISE_LLR:  # even if every outcome still out is a refusal
            self._noise(test)
            return True
        return False

    def _grow(self) -> None:
        if not self._fast():
            return
        if self.ceiling is not None and self.limit >= self.ceiling - 1:
            if self._clean >= PROBE_GAP * 2 ** self._probe_doublings:
                self._clean = 0
                self._test = _Test(level=self.ceiling, probe=True, resume=self.limit)
                self._set_limit(self.ceiling)
            return
        if not self._limited:
            self._set_limit(self.limit + 1)  # one more per answer: doubling per round
            return
        self._grow_additively()

    def _grow_additively(self) -> None:
        """One more request in flight per round of answers."""
        if not self._fast():
            return
        self._growth += 1.0 / self.limit
        if self._growth >= 1.0:
            self._growth = 0.0
            self._set_limit(self.limit + 1)

    def _limit_at(self, test: _Test) -> None:
        """The test found a limit at `test.level`: settle under it."""
        self._test = None
        self.limits_found += 1
        self._limited = True
        self._clean = 0
        self.ceiling = test.level
        if test.probe:
            self._probe_doublings = min(MAX_PROBE_DOUBLINGS, self._probe_doublings + 1)
            self._set_limit(test.level - 1)
            return
        self._set_limit(test.level - self._step)
        self._step *= 2  # a second limit before a clean stretch: the capacity fell, step further down

    def _noise(self, test: _Test) -> None:
        """The test found noise: its refusals were not a limit and join the noise estimate."""
        self._test = None
        self._step = 1
        self._set_limit(max(self.limit, test.resume))
        if test.probe:  # the ceiling's level took the load: the limit was noise after all, or the capacity rose
            self._probe_doublings = 0
            self.ceiling = None
            self._limited = False

    def _set_limit(self, value: int) -> None:
        self.limit = max(1, min(value, self.maximum))
        self.peak = max(self.peak, self.limit)

    def _p0(self, level: int) -> float:
        """The noise rate: refusals among the attempts not under test, from the prior."""
        below = [n for n in self._sent_at if n <= max(1, int(level * NOISE_SHARE))]
        refused = sum(self._refused_at[n] for n in below)
        sent = sum(self._sent_at[n] for n in below)
        return max(MIN_NOISE, (refused + PRIOR_REFUSED) / (sent + PRIOR_SENT))

    def _q1(self, level: int) -> float:
        """The refusal rate a limit at `level` is assumed to cause: five times the noise, at least 0.4 (an edge
        blurred by answers not yet read refuses only some)."""
        return min(0.95, max(H1_REFUSED, H1_TIMES_NOISE * self._p0(level)))

    def _observe_latency(self, seconds: float) -> None:
        self._latency = seconds if self._latency is None else (
            LATENCY_ALPHA * seconds + (1.0 - LATENCY_ALPHA) * self._latency)
        if self._answered >= LATENCY_WARMUP:
            self._best_latency = self._latency if self._best_latency is None else min(self._best_latency,
                                                                                      self._latency)

    def _fast(self) -> bool:
        """Whether answers come back about as fast as they did at their best (a queueing server slows down)."""
        if self._best_latency is None or self._latency is None:
            return True
        return self._latency <= SLOW_FACTOR * self._best_latency
