"""How many CPU threads a CPU training computes with: the cores free when it starts, not all of them.

torch's intra-op threads meet at a barrier after each operation and spin while they wait. With a core busy
with another process, the thread scheduled on it arrives late at every barrier and the others spin for it:
on two cores, one of them busy, a CPU training ran some 17 times slower with two threads than it would with
one. So a CPU run counts the cores free now (/proc/stat's per-CPU idle time over a short window, among the
CPUs this process may run on) and sets torch's intra-op thread count to that, at least 1, for the run only:
the previous count is restored after (the worker is a long-lived process).

What the user said wins: the option `cpu_threads`, else OMP_NUM_THREADS in the environment (torch then keeps
the count it started with). No /proc/stat (not Linux): every allowed CPU counts as free. A GPU run is left as is.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

StatReader = Callable[[], str | None]
WINDOW_S = 0.25
# a share of a core this idle or more over the window counts as a free core (the sum over the allowed CPUs,
# rounded down after adding 1 - FREE_SHARE): a core busy half of the time is not free
FREE_SHARE = 0.75


def read_proc_stat() -> str | None:
    try:
        return Path("/proc/stat").read_text()
    except OSError:
        return None


def allowed_cpus() -> set[int]:
    """The CPUs this process may run on (its affinity), else all of them."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return set(range(os.cpu_count() or 1))


def per_cpu_times(stat: str) -> dict[int, tuple[int, int]]:
    """cpu number -> (idle jiffies, all jiffies) from /proc/stat's `cpuN` lines (idle counts iowait too)."""
    times: dict[int, tuple[int, int]] = {}
    for line in stat.splitlines():
        name, _, rest = line.partition(" ")
        if not (name.startswith("cpu") and name[3:].isdigit()):
            continue
        values = [int(value) for value in rest.split()[:8]]  # user nice system idle iowait irq softirq steal
        if len(values) >= 4:
            times[int(name[3:])] = (values[3] + (values[4] if len(values) > 4 else 0), sum(values))
    return times


def free_cores(read_stat: StatReader = read_proc_stat, *, window: float = WINDOW_S,
               sleep: Callable[[float], None] = time.sleep, allowed: set[int] | None = None) -> int:
    """The number of allowed CPUs idle over the next `window` seconds, at least 1."""
    cpus = allowed if allowed is not None else allowed_cpus()
    first = read_stat()
    if first is None:
        return max(1, len(cpus))
    sleep(window)
    second = read_stat()
    if second is None:
        return max(1, len(cpus))
    before, after = per_cpu_times(first), per_cpu_times(second)
    idle = 0.0
    measured = 0
    for cpu in cpus:
        if cpu not in before or cpu not in after:
            continue
        total = after[cpu][1] - before[cpu][1]
        if total > 0:
            idle += min(1.0, max(0.0, (after[cpu][0] - before[cpu][0]) / total))
            measured += 1
    if measured == 0:  # no tick counted in the window: nothing to go on
        return max(1, len(cpus))
    return max(1, min(len(cpus), int(idle + 1 - FREE_SHARE)))


def choose_threads(requested: int | None, environ: Mapping[str, str],
                   count_free: Callable[[], int]) -> tuple[int | None, str]:
    """(threads to set or None to leave torch alone, why): the option, else OMP_NUM_THREADS, else the free cores."""
    if requested is not None:
        return requested, "the cpu_threads option"
    if environ.get("OMP_NUM_THREADS", "").strip():
        return None, "OMP_NUM_THREADS"
    return count_free(), "free cores"


@contextmanager
def cpu_threads(device: str, requested: int | None, *, environ: Mapping[str, str] | None = None,
                count_free: Callable[[], int] = free_cores) -> Iterator[dict[str, Any] | None]:
    """For a CPU run: torch's intra-op threads set for the run and restored after; yields what was chosen
    ({"cpu_threads": n, "cpu_threads_from": why}), or None on another device (nothing changed)."""
    if device != "cpu":
        yield None
        return
    import torch

    previous = torch.get_num_threads()
    threads, why = choose_threads(requested, os.environ if environ is None else environ, count_free)
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield {"cpu_threads": torch.get_num_threads(), "cpu_threads_from": why}
    finally:
        torch.set_num_threads(previous)
