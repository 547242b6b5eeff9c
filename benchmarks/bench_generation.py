"""Generation throughput of `openai-compatible` against a local fake server, printed as ratios from one run.

A fake OpenAI Chat Completions server runs in its own process (plain asyncio, raw HTTP/1.1 with
keep-alive, no dependency) and answers every request after `--latency` seconds (200 ms) with the
examples the prompt asks for, quoting the prompt's passage. The core's whole generation path runs
against it: a Workspace, a project made of a synthetic ~1 MB Markdown text, ingest, chunk
(512/50 tokens), then `generate` with the openai-compatible generator. Printed per scenario:

    requests/s over the bound C / latency   (C = requests in flight)
        C = 16 and C = 64                   target >= 0.85 at 64
        C = 64, 10 % of requests answered   target >= 0.7
        429 with Retry-After: 1

and the counts showing nothing lost or duplicated: requests planned == distinct request keys
stored == requests the server answered 200; examples stored == examples expected; no
(request key, position) stored twice; no failed request.

    python benchmarks/bench_generation.py [--text-mb 1] [--latency 0.2] [--seconds 8]

Requests/s is measured over the generation phase the core reports (`seconds` in the job summary:
planning, HTTP, parsing, storing; curation afterwards is not counted), start-up and tail
included: with 429s, the last retried requests (a retry may be answered 429 again) add a tail of
about two seconds whatever the run's length, so longer runs give higher ratios. The two CPU cores
are shared by this process and the server's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from finetune_providers.testing import answer

# --- the fake server (runs in a child process: `--serve`) ----------------------------------------------------------

def _response(status: str, body: bytes, extra: str = "") -> bytes:
    head = (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Connection: keep-alive\r\n{extra}\r\n")
    return head.encode() + body


class _State:
    def __init__(self, latency: float, rate_limit_every: int) -> None:
        self.latency = latency
        self.every = rate_limit_every
        self.requests = 0
        self.answered = 0
        self.rate_limited = 0
        self.keys: Counter[int] = Counter()


class _ChatProtocol(asyncio.Protocol):
    def __init__(self, state: _State) -> None:
        self.state = state
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            method, path = lines[0].split(" ")[:2]
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            body = bytes(self.buffer[end + 4 : total])
            del self.buffer[:total]
            self.handle(method, path, body)

    def handle(self, method: str, path: str, body: bytes) -> None:
        state = self.state
        if method == "GET" and path == "/stats":
            twice = sum(1 for count in state.keys.values() if count > 1)
            stats = {"requests": state.requests, "answered": state.answered, "rate_limited": state.rate_limited,
                     "distinct_answered": len(state.keys), "answered_twice": twice}
            self.write(_response("200 OK", json.dumps(stats).encode()))
            return
        state.requests += 1
        if state.every and state.requests % state.every == 0:
            state.rate_limited += 1  # a rate limiter answers at once
            self.write(_response("429 Too Many Requests", b'{"error": {"message": "Rate limit reached"}}',
                                 "Retry-After: 1\r\n"))
            return
        request = json.loads(body)
        user = next((m.get("content", "") for m in request.get("messages", []) if m.get("role") == "user"), "")
        state.keys[hash(user)] += 1
        state.answered += 1
        reply = _response("200 OK", json.dumps(answer(request)).encode())
        asyncio.get_running_loop().call_later(state.latency, self.write, reply)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


async def _serve(latency: float, rate_limit_every: int) -> None:
    state = _State(latency, rate_limit_every)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _ChatProtocol(state), "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    async with server:
        await server.serve_forever()


@dataclass
class FakeServer:
    process: subprocess.Popen[str]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stats(self) -> dict[str, int]:
        import httpx

        stats: dict[str, int] = httpx.get(f"http://127.0.0.1:{self.port}/stats", timeout=10).json()
        return stats

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def start_server(latency: float, rate_limit_every: int) -> FakeServer:
    process = subprocess.Popen([sys.executable, __file__, "--serve", "--latency", str(latency),
                                "--rate-limit-every", str(rate_limit_every)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("PORT "):
        process.kill()
        raise RuntimeError(f"the fake server did not start: {line!r}")
    return FakeServer(process, int(line.split()[1]))


# --- the client side: the core's generation with openai-compatible ------------------------------------------------

@dataclass
class Outcome:
    label: str
    concurrency: int
    requests: int
    seconds: float
    ratio: float
    checks: dict[str, Any]


def run_scenario(label: str, text_path: Path, *, concurrency: int, latency: float, seconds: float,
                 rate_limit_every: int, per_chunk: int = 2) -> Outcome:
    from finetune_core import Workspace
    from finetune_core.jobs import InlineRunner

    server = start_server(latency, rate_limit_every)
    try:
        with tempfile.TemporaryDirectory() as tmp, Workspace.open(Path(tmp) / "ws", runner=InlineRunner()) as ws:
            project = ws.create_project(label, config={"generator": "openai-compatible", "model": "bench-model"})
            ws.add_file(project.id, text_path)
            ws.ingest(project.id)
            ws.chunk(project.id, size=512, overlap=50)
            chunks = len(ws.chunks(project.id, limit=None))
            bound = concurrency / latency
            rounds = max(1, math.ceil(bound * seconds / chunks))  # enough requests for `seconds` at the bound
            target = chunks * per_chunk * rounds
            job = ws.generate(project.id, target=target, examples_per_chunk=per_chunk, settings={
                "base_url": server.url, "concurrency": concurrency, "timeout_s": 60})
            summary = job.result_summary
            stats = server.stats()
            with ws.unit_of_work() as repo:
                stored = [e for e in repo.iter_examples(project.id) if (e.request_key or "").startswith("gen:")]
            pairs = Counter((e.request_key, e.position) for e in stored)
            checks = {
                "chunks": chunks, "rounds": rounds,
                "requests planned": summary["requests"],
                "distinct request keys stored": len({e.request_key for e in stored}),
                "answered 200 by the server": stats["answered"],
                "answered twice by the server": stats["answered_twice"],
                "answered 429 (retried)": stats["rate_limited"],
                "examples expected": target,
                "examples stored": len(stored),
                "stored twice": sum(1 for count in pairs.values() if count > 1),
                "failed requests": summary["failed_requests"],
            }
            ok = (checks["requests planned"] == checks["distinct request keys stored"] == checks[
                "answered 200 by the server"] and checks["examples stored"] == target and checks["stored twice"] == 0
                  and checks["answered twice by the server"] == 0 and checks["failed requests"] == 0)
            checks["nothing lost, nothing duplicated"] = ok
            rate = summary["requests"] / summary["seconds"]
            return Outcome(label, concurrency, summary["requests"], summary["seconds"], rate / bound, checks)
    finally:
        server.stop()


def make_text(megabytes: float) -> str:
    from bench_core import make_text as core_text

    return core_text(megabytes, seed=11)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--text-mb", type=float, default=1.0)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--seconds", type=float, default=8.0, help="rough length of each run at the bound")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rate-limit-every", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(args.latency, args.rate_limit_every))
        return

    scenarios = [("plain", 16, 0, None), ("plain", 64, 0, 0.85), ("10 % 429, Retry-After: 1", 64, 10, 0.7)]
    with tempfile.TemporaryDirectory() as tmp:
        text_path = Path(tmp) / "corpus.md"
        text_path.write_text(make_text(args.text_mb), encoding="utf-8")
        size_mb = text_path.stat().st_size / 1e6
        print(f"[generation] openai-compatible vs a local fake server answering after {args.latency * 1000:.0f} ms; "
              f"{size_mb:.2f} MB Markdown corpus, 512/50-token chunks, 2 examples per request")
        header = f"{'scenario':<26} {'C':>3} {'requests':>8} {'seconds':>8} {'req/s':>7} {'bound':>6} {'ratio':>6}"
        print(f"  {header}  target")
        outcomes = []
        for label, concurrency, every, target in scenarios:
            started = time.perf_counter()
            outcome = run_scenario(label, text_path, concurrency=concurrency, latency=args.latency,
                                   seconds=args.seconds, rate_limit_every=every)
            outcomes.append(outcome)
            verdict = "" if target is None else f">= {target}  {'ok' if outcome.ratio >= target else 'MISSED'}"
            print(f"  {label:<26} {concurrency:>3} {outcome.requests:>8} {outcome.seconds:>8.2f} "
                  f"{outcome.requests / outcome.seconds:>7.1f} {concurrency / args.latency:>6.0f} {outcome.ratio:>6.3f}"
                  f"  {verdict}   (whole scenario {time.perf_counter() - started:.1f} s)")
        print("  counts:")
        for outcome in outcomes:
            counts = ", ".join(f"{name} {value}" for name, value in outcome.checks.items())
            print(f"    {outcome.label} C={outcome.concurrency}: {counts}")
        if not all(outcome.checks["nothing lost, nothing duplicated"] for outcome in outcomes):
            sys.exit("examples were lost or duplicated")


if __name__ == "__main__":
    main()
