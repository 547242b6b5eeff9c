"""A Redis client that fails fast: the API answers without Redis (limits let requests through, health says so)."""

from __future__ import annotations

from typing import Any

TIMEOUT_S = 0.5


def connect(url: str) -> Any:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S,
                                retry=Retry(NoBackoff(), 0))
