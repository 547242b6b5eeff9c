"""What the app does differently under gevent (`finetune serve`'s default worker), without importing it elsewhere.

gunicorn's gevent worker monkey-patches the standard library before it loads the app: a `threading.Thread` is
then a greenlet, which suits waiting on sockets (event streams) but not work that holds the CPU. So the jobs
that this process runs itself (no Redis) go to gevent's pool of native threads, and a request never waits
behind a chunking or a training step.
"""

from __future__ import annotations

import select
import sys
from concurrent.futures import Executor
from typing import Any


def patched() -> bool:
    """Whether gevent monkey-patched threading in this process."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("threading"))


def native_thread_pool(threads: int) -> Executor:
    """A pool of real OS threads even when threading is patched (gevent's own executor)."""
    from gevent.threadpool import ThreadPoolExecutor

    pool: Executor = ThreadPoolExecutor(max_workers=threads)
    return pool


def system_poll() -> Any:
    """A poll object of the system's `select.poll`: gevent's drops POLLRDHUP, which tells that a client hung up."""
    if "gevent.monkey" in sys.modules:
        from gevent import monkey

        return monkey.get_original("select", "poll")()
    return select.poll()
