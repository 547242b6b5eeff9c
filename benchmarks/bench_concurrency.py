"""`--concurrency auto` against servers with a capacity limit and with noise, beside NVIDIA's Data Designer.

A fake OpenAI Chat Completions server runs in its own process (plain asyncio, raw HTTP/1.1 with
keep-alive) and answers after `--latency` seconds (200 ms). It may serve at most `--slots`
requests at once and answer 429 at once to any request beyond them (a gateway's concurrency
limit), and may answer a share of requests 429 whatever its load (noise). Each scenario sends the
same number of requests (`--requests`, 3,000) through the core's whole generation path (a
Workspace, a Markdown corpus, ingest, chunk, generate with the openai-compatible generator):

    fixed 64 against an unlimited server     requests/s over 64 / latency    (today's behaviour)
    auto against the 32-slot server          requests/s over 32 / latency    target >= 0.9, < 2 % answered 429
    auto, 32 slots and 10 % random 429s      requests/s over 32 / latency    target >= 0.8
    fixed 64 against the 32-slot server      for comparison: what a wrong guess costs

then Data Designer (`data-designer` 0.9.7, in its own venv; benchmarks/bench_peer_data_designer.py
says how it is installed and driven) with the same request count on the same two limited servers.
Printed per run: requests/s (answered 200, over the time from the server's first request to its
last answer: the same clock for both tools) and its ratio to the bound, the 429s the server
answered (and their share of all it answered), failed requests, and the level `auto` settled on.

    python benchmarks/bench_concurrency.py [--requests 3000] [--latency 0.2] [--slots 32] [--no-peer]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_generation import FakeServer, _ChatProtocol, _response, launch_server
from finetune_providers.testing import answer

# --- the fake server (runs in a child process: `--serve`) ----------------------------------------------------------


RATE_LIMITED = _response("429 Too Many Requests", b'{"error": {"message": "Rate limit reached", "type": "requests"}}')


class _State:
    def __init__(self, latency: float, slots: int, noise: float) -> None:
        self.latency = latency
        self.slots = slots
        self.noise = noise
        self.random = random.Random(5)
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.answered = 0
        self.over_capacity = 0
        self.noise_429 = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self.first: float | None = None
        self.last: float | None = None


class _LimitedProtocol(_ChatProtocol):
    """bench_generation's HTTP/1.1 reading, with a capacity limit and noise in place of its answers."""

    def __init__(self, state: _State) -> None:  # type: ignore[override]  # its own kind of state
        super().__init__(state)  # type: ignore[arg-type]
        self.limits = state

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def handle(self, method: str, path: str, body: bytes) -> None:
        state = self.limits
        if method == "GET" and path == "/stats":
            stats = {"requests": state.requests, "answered": state.answered, "over_capacity": state.over_capacity,
                     "noise_429": state.noise_429, "peak_in_flight": state.peak_in_flight,
                     "seconds": (state.last or 0) - (state.first or 0)}
            self.write(_response("200 OK", json.dumps(stats).encode()))
            return
        if method == "GET" and path == "/reset":
            state.reset()
            self.write(_response("200 OK", b"{}"))
            return
        now = time.monotonic()
        state.first = state.first if state.first is not None else now
        state.requests += 1
        if state.slots and state.in_flight >= state.slots:
            state.over_capacity += 1
            self.write(RATE_LIMITED)
            return
        if state.noise and state.random.random() < state.noise:
            state.noise_429 += 1
            self.write(RATE_LIMITED)
            return
        request = json.loads(body)
        for message in request.get("messages", []):  # Data Designer sends content as a list of parts
            if isinstance(message.get("content"), list):
                message["content"] = "".join(str(part.get("text", "")) for part in message["content"]
                                             if isinstance(part, dict))
        state.in_flight += 1
        state.peak_in_flight = max(state.peak_in_flight, state.in_flight)
        reply = _response("200 OK", json.dumps(answer(request)).encode())
        asyncio.get_running_loop().call_later(state.latency, self.reply, reply)

    def reply(self, data: bytes) -> None:
        state = self.limits
        state.in_flight -= 1
        state.answered += 1
        state.last = time.monotonic()
        self.write(data)


async def _serve(latency: float, slots: int, noise: float) -> None:
    state = _State(latency, slots, noise)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _LimitedProtocol(state), "127.0.0.1", 0, backlog=2048)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def start_server(latency: float, slots: int, noise: float) -> FakeServer:
    return launch_server(__file__, "--latency", str(latency), "--slots", str(slots), "--noise", str(noise))


# --- ours: the core's generation with openai-compatible -----------------------------------------------------------

@dataclass
class Run:
    label: str
    tool: str
    requests: int  # answered 200
    seconds: float
    bound: float
    rate_limited: int
    failed: int
    level: str

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def ratio(self) -> float:
        return self.rate / self.bound

    @property
    def share_429(self) -> float:
        return self.rate_limited / max(1, self.requests + self.rate_limited)


def prepare_corpus(folder: Path, requests: int) -> tuple[Path, int]:
    """A Markdown corpus with about `requests` / 3 chunks of 512 tokens: three rounds make `requests` requests."""
    from bench_core import make_text

    path = folder / "corpus.md"
    path.write_text(make_text(requests / 3 * 0.0023, seed=17), encoding="utf-8")
    return path, 3


def run_ours(label: str, corpus: Path, server: FakeServer, *, concurrency: int | str, requests: int,
             bound: float) -> Run:
    from finetune_core import Workspace
    from finetune_core.jobs import InlineRunner

    server.reset()
    with tempfile.TemporaryDirectory() as tmp, Workspace.open(Path(tmp) / "ws", runner=InlineRunner()) as ws:
        project = ws.create_project("bench", config={"generator": "openai-compatible", "model": "bench-model"})
        ws.add_file(project.id, corpus)
        ws.ingest(project.id)
        ws.chunk(project.id, size=512, overlap=50)
        chunks = len(ws.chunks(project.id, limit=None))
        per_chunk = 2
        rounds = max(1, round(requests / chunks))
        job = ws.generate(project.id, target=chunks * per_chunk * rounds, examples_per_chunk=per_chunk, settings={
            "base_url": server.url, "concurrency": concurrency, "timeout_s": 60})
        summary = job.result_summary
    stats = server.stats()
    report = summary.get("concurrency") or {}
    level = (f"settled {report['level']}, peak {report['peak']}, limit found {report['limit_found']}"
             if report else f"fixed {concurrency}")
    return Run(label, "ours", stats["answered"], float(stats["seconds"]), bound,
               stats["over_capacity"] + stats["noise_429"], int(summary["failed_requests"]), level)


def run_peer(label: str, server: FakeServer, *, requests: int, bound: float, timeout_s: float) -> Run | str:
    """Data Designer on `server`: its Run (cut at `timeout_s`: then what it had answered by then), or why it could
    not run."""
    try:
        from bench_peer_data_designer import PeerUnavailable, ensure_data_designer, run_data_designer
    except ImportError as error:
        return f"its runner is missing ({error})"
    try:
        ensure_data_designer()
    except PeerUnavailable as error:
        return str(error)
    server.reset()
    started = time.monotonic()
    try:
        outcome = run_data_designer(server.url, requests=requests, timeout_s=timeout_s)
    except PeerUnavailable as error:
        stats = server.stats()
        if time.monotonic() - started < timeout_s or not stats["answered"]:
            return str(error)
        return Run(label, "data-designer", stats["answered"], time.monotonic() - started, bound,
                   stats["over_capacity"] + stats["noise_429"], requests - stats["answered"],
                   f"its AIMD; stopped after {timeout_s:.0f} s with {stats['answered']} of {requests} answered")
    stats = server.stats()
    concurrency = outcome.concurrency
    level = (f"its AIMD: limit {concurrency.get('limit_start')} -> {concurrency.get('limit_final')}, "
             f"min {concurrency.get('limit_min')}" if concurrency.get("limit_final") is not None else "its AIMD")
    return Run(label, "data-designer", stats["answered"], float(stats["seconds"]), bound,
               stats["over_capacity"] + stats["noise_429"], int(outcome.failed), level)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--slots", type=int, default=32)
    parser.add_argument("--noise", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-peer", action="store_true", help="skip Data Designer")
    parser.add_argument("--peer-timeout", type=float, default=240.0,
                        help="seconds Data Designer gets per run (with random 429s it may need far more)")
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(args.latency, args.slots, args.noise))
        return

    slots, latency = args.slots, args.latency
    print(f"[concurrency] openai-compatible with --concurrency auto vs fake servers answering after "
          f"{latency * 1000:.0f} ms; {args.requests} requests per run, through the core's generation job")
    runs: list[tuple[Run, str]] = []
    servers = {"unlimited": start_server(latency, 0, 0.0), "limited": start_server(latency, slots, 0.0),
               "noisy": start_server(latency, slots, 0.1)}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            corpus, _ = prepare_corpus(Path(tmp), args.requests)
            plan: list[tuple[str, str, int | str, float, str]] = [
                ("fixed 64, no limit", "unlimited", 64, 64 / latency, ""),
                (f"auto, {slots} slots", "limited", "auto", slots / latency, "ratio >= 0.9, 429 < 2 %"),
                (f"auto, {slots} slots + 10 % 429", "noisy", "auto", slots / latency, "ratio >= 0.8"),
                (f"fixed 64, {slots} slots", "limited", 64, slots / latency, ""),
            ]
            for label, server, concurrency, bound, target in plan:
                runs.append((run_ours(label, corpus, servers[server], concurrency=concurrency,
                                      requests=args.requests, bound=bound), target))
            peers: list[Run] = []
            reason = ""
            if not args.no_peer:
                for label, server in ((f"{slots} slots", "limited"), (f"{slots} slots + 10 % 429", "noisy")):
                    outcome = run_peer(label, servers[server], requests=args.requests, bound=slots / latency,
                                       timeout_s=args.peer_timeout)
                    if isinstance(outcome, str):
                        reason = outcome
                        break
                    peers.append(outcome)
    finally:
        for server in servers.values():
            server.stop()

    print(f"  {'tool':<14} {'scenario':<26} {'answered':>8} {'seconds':>8} {'req/s':>7} {'bound':>6} {'ratio':>6} "
          f"{'429s':>6} {'429 %':>6} {'failed':>6}  level / target")
    verdicts = []
    for run, target in runs + [(peer, "") for peer in peers]:
        verdict = ""
        if target:
            ok = run.ratio >= (0.9 if "0.9" in target else 0.8) and ("2 %" not in target or run.share_429 < 0.02)
            verdicts.append(ok)
            verdict = f"  [{target}: {'ok' if ok else 'MISSED'}]"
        print(f"  {run.tool:<14} {run.label:<26} {run.requests:>8} {run.seconds:>8.2f} {run.rate:>7.1f} "
              f"{run.bound:>6.0f} {run.ratio:>6.3f} {run.rate_limited:>6} {run.share_429 * 100:>5.1f}% "
              f"{run.failed:>6}  {run.level}{verdict}")
    if args.no_peer:
        print("  data-designer: skipped (--no-peer)")
    elif reason:
        print(f"  data-designer: NOT MEASURED: {reason}")
    else:
        for peer in peers:
            ours = next(run for run, _ in runs if run.label == f"auto, {peer.label}")
            print(f"  ours/data-designer, {peer.label}: requests/s {ours.rate / peer.rate:.2f}x, "
                  f"429s {ours.rate_limited} vs {peer.rate_limited}")


if __name__ == "__main__":
    main()
