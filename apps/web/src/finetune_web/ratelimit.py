"""Rate limits: fixed windows counted per user (per client address when anonymous), in memory or in Redis.

The rules are matched in order and the first that fits a request counts it; the defaults come from
finetuneflow §12 and crealia (sign-in 5 per 15 minutes and sign-up 3 an hour, both per address).
Every response carries `X-RateLimit-Limit`, `-Remaining` and `-Reset` (when the window ends, in
epoch seconds); a refused request answers 429 with `Retry-After` (seconds). With REDIS_URL the
counts are shared by every worker process and host; without it, each process counts for itself.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from flask import Flask, Response, g, request

from finetune_web.bearer import bearer_subject
from finetune_web.errors import ApiError
from finetune_web.redis_client import connect

if TYPE_CHECKING:
    from finetune_web.settings import WebSettings

log = logging.getLogger(__name__)

MINUTE, HOUR, DAY = 60, 3600, 86400
UNITS = {"s": 1, "m": MINUTE, "min": MINUTE, "h": HOUR, "d": DAY}
POST = frozenset({"POST"})
READS = frozenset({"GET", "HEAD"})
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Rule:
    name: str
    methods: frozenset[str]
    path: re.Pattern[str]
    limit: int
    window_s: int
    per_address: bool = False  # counted per client address even for a signed-in caller

    def matches(self, method: str, path: str) -> bool:
        return method in self.methods and self.path.search(path) is not None


DEFAULT_RULES: tuple[Rule, ...] = (
    Rule("login", POST, re.compile(r"^/api/auth/(login|signin)$"), 5, 15 * MINUTE, per_address=True),
    Rule("signup", POST, re.compile(r"^/api/auth/(register|signup)$"), 3, HOUR, per_address=True),
    Rule("upload", POST, re.compile(r"/upload$"), 10, MINUTE),
    Rule("generate", POST, re.compile(r"/generate$"), 5, MINUTE),
    Rule("train", POST, re.compile(r"/train/"), 3, MINUTE),
    Rule("read", READS, re.compile(""), 60, MINUTE),
    Rule("write", WRITES, re.compile(""), 30, MINUTE),
)


def parse_limit(text: str) -> tuple[int, int]:
    """`"5/15m"` is (5, 900): a count, then a window in s, m, h or d (a bare number is seconds)."""
    found = re.fullmatch(r"\s*(\d+)\s*/\s*(\d*)\s*([a-z]*)\s*", text.lower())
    if found is None or found.group(3) not in {"", *UNITS}:
        raise ValueError(f"a rate limit reads COUNT/WINDOW, like 5/15m or 60/1m, not '{text}'")
    count, amount, unit = int(found.group(1)), int(found.group(2) or 1), found.group(3) or "s"
    return count, amount * UNITS[unit]


def rules_with(overrides: Mapping[str, str], rules: Iterable[Rule] = DEFAULT_RULES) -> tuple[Rule, ...]:
    """The rules with some limits replaced (`{"login": "10/15m"}`); an unknown rule name is an error."""
    rules = tuple(rules)
    unknown = set(overrides) - {rule.name for rule in rules}
    if unknown:
        raise ValueError(f"no rate-limit rule named {sorted(unknown)} (rules: {', '.join(r.name for r in rules)})")
    changed = []
    for rule in rules:
        if rule.name in overrides:
            limit, window_s = parse_limit(overrides[rule.name])
            rule = replace(rule, limit=limit, window_s=window_s)
        changed.append(rule)
    return tuple(changed)


class CounterStore(Protocol):
    def hit(self, key: str, window_s: int) -> int:
        """Count one request under `key` (a key names one window); the count so far."""
        ...


class MemoryStore:
    """Counts in this process (one gunicorn worker): the embedded default."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, window_s: int) -> int:
        now = time.monotonic()
        with self._lock:
            if len(self._counts) > 10_000:  # windows end: forget the counts of those that have
                self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
            count, expires = self._counts.get(key, (0, now + window_s))
            self._counts[key] = (count + 1, expires)
            return count + 1


class RedisStore:
    """Counts in Redis, shared by every process; while Redis cannot be reached, requests go through uncounted."""

    RETRY_AFTER_S = 5.0  # after a failure, Redis is not asked again for this long: requests stay fast

    def __init__(self, client: Any) -> None:
        self._client = client
        self._down_until = 0.0

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        return cls(connect(url))

    def hit(self, key: str, window_s: int) -> int:
        if time.monotonic() < self._down_until:
            return 0
        try:
            pipeline = self._client.pipeline()
            pipeline.incr(key)
            pipeline.expire(key, window_s + 1, nx=True)
            count, _ = pipeline.execute()
            return int(count)
        except Exception as error:  # the limiter must not take the API down with Redis
            log.warning("rate limits not counted: Redis unreachable (%s)", type(error).__name__)
            self._down_until = time.monotonic() + self.RETRY_AFTER_S
            return 0


@dataclass(frozen=True)
class Verdict:
    rule: Rule
    count: int
    reset_at: int  # epoch seconds

    @property
    def allowed(self) -> bool:
        return self.count <= self.rule.limit

    def retry_after_s(self, now: float | None = None) -> int:
        return max(1, math.ceil(self.reset_at - (now or time.time())))

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.rule.limit),
            "X-RateLimit-Remaining": str(max(0, self.rule.limit - self.count)),
            "X-RateLimit-Reset": str(self.reset_at),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_s())
        return headers


class RateLimiter:
    def __init__(self, rules: Iterable[Rule], store: CounterStore, *, enabled: bool = True) -> None:
        self.rules = tuple(rules)
        self.store = store
        self.enabled = enabled

    def rule_for(self, method: str, path: str) -> Rule | None:
        return next((rule for rule in self.rules if rule.matches(method, path)), None)

    def check(self, method: str, path: str, *, user: str | Callable[[], str | None] | None,
              address: str) -> Verdict | None:
        """Count the request; None when no limit applies to it. `user` may be a callable: asked only when needed."""
        rule = self.rule_for(method, path) if self.enabled else None
        if rule is None:
            return None
        if callable(user) and not rule.per_address:
            user = user()
        who = f"user:{user}" if isinstance(user, str) and user and not rule.per_address else f"address:{address}"
        start = int(time.time() // rule.window_s) * rule.window_s
        count = self.store.hit(f"finetune:ratelimit:{rule.name}:{who}:{start}", rule.window_s)
        return Verdict(rule, count, start + rule.window_s)


def limiter_for(settings: WebSettings) -> RateLimiter:
    store: CounterStore = RedisStore.from_url(settings.redis_url) if settings.redis_url else MemoryStore()
    return RateLimiter(rules_with(settings.rate_limit_rules), store, enabled=settings.rate_limits)


def install_rate_limits(app: Flask, limiter: RateLimiter) -> None:
    """Count each request before it is authenticated; put the headers on every answer, errors included."""

    @app.before_request
    def _count() -> None:
        if request.method == "OPTIONS":
            return
        verdict = limiter.check(request.method, request.path, user=bearer_subject,
                                address=request.remote_addr or "unknown")
        g.rate_limit = verdict
        if verdict is not None and not verdict.allowed:
            rule = verdict.rule
            raise ApiError(429, "RATE_LIMITED", f"too many requests: {rule.limit} per {rule.window_s} s "
                           f"for '{rule.name}'; retry in {verdict.retry_after_s()} s", rule=rule.name,
                           limit=rule.limit, window_s=rule.window_s, retry_after_s=verdict.retry_after_s())

    @app.after_request
    def _headers(response: Response) -> Response:
        verdict: Verdict | None = g.get("rate_limit")
        if verdict is not None:
            response.headers.update(verdict.headers())
        return response
