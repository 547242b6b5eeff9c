"""embedded.Sessions, the turns on the shared embedded model, without a model: generations of one set-up run at the
same time, another set-up waits for all of them (and is not starved by newcomers), set-up and tear-down once per
group."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from finetune_local_gpu.embedded import Sessions

WAIT_S = 30.0  # a bound on each wait for a condition, never a pause


def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "the condition never came"
        time.sleep(0.001)


def test_one_set_up_runs_together_and_another_waits_for_the_whole_group() -> None:
    sessions = Sessions()
    log: list[str] = []
    inside = threading.Barrier(2, timeout=WAIT_S)  # passes only while both base generations are inside at once
    release = threading.Event()

    def generate(key: str | None, label: str, together: bool = False) -> None:
        with sessions.hold(key, lambda: log.append(f"set up {key}") or key,
                           lambda: log.append(f"tear down {key}")) as model:
            assert model == key
            log.append(f"{label} in")
            if together:
                inside.wait()
                release.wait(WAIT_S)
            log.append(f"{label} out")

    first = [threading.Thread(target=generate, args=(None, f"base {n}", True)) for n in range(2)]
    for thread in first:
        thread.start()
    until(lambda: sessions.running == 2)  # both in at once: the barrier let them through
    other = threading.Thread(target=generate, args=("adapter", "adapter"))
    other.start()
    until(lambda: sessions.queue == ["adapter"])
    late = threading.Thread(target=generate, args=(None, "late base"))
    late.start()
    until(lambda: sessions.queue == ["adapter", None])  # the late base generation does not join its set-up's group
    release.set()
    for thread in [*first, other, late]:
        thread.join(WAIT_S)
    assert log.count("set up None") == 2 and log.count("set up adapter") == 1  # once per group
    assert log.index("set up adapter") > max(log.index("base 0 out"), log.index("base 1 out"))
    assert log.index("adapter in") < log.index("late base in")
    assert log[-1] == "tear down None" and log.count("tear down adapter") == 1
    assert sessions.running == 0 and sessions.queue == [] and sessions.handed_to == []


def test_a_failed_set_up_leaves_the_model_free() -> None:
    sessions = Sessions()

    def broken() -> None:
        raise RuntimeError("half an adapter")

    try:
        with sessions.hold("bad", broken):
            raise AssertionError("entered without a set-up")
    except RuntimeError as exc:
        assert "half an adapter" in str(exc)
    assert sessions.running == 0
    with sessions.hold(None, lambda: "base") as model:
        assert model == "base"
