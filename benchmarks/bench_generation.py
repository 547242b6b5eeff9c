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

Then the peer comparison, on one fake server and one corpus (`--peer-text-mb`, 1.8 MB), one tool
after the other: ours at C = `--peer-concurrency` (32), then Meta's synthetic-data-kit (its own
venv, made on first use; `benchmarks/bench_peer_sdk.py` says how it is installed and configured)
with its batch_size = the same C, as many chunks as ours and 2 pairs per chunk, each going once
through every chunk. Printed: each tool's pairs/minute and requests/s over its bound C / latency,
and ours over theirs. Where synthetic-data-kit cannot be installed or run, the line says why and
the rest still runs (`--no-peer` skips it).

    python benchmarks/bench_generation.py [--text-mb 1] [--latency 0.2] [--seconds 8] [--no-peer]

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

from bench_peer_sdk import PEER, PeerOutcome, PeerUnavailable, ensure_peer, peer_answer, run_peer
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
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.answered = 0
        self.rate_limited = 0
        self.keys: Counter[int] = Counter()
        self.connections = 0
        self.in_flight = 0
        self.peak_in_flight = 0


class _ChatProtocol(asyncio.Protocol):
    def __init__(self, state: _State) -> None:
        self.state = state
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.state.connections += 1

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
                     "distinct_answered": len(state.keys), "answered_twice": twice,
                     "connections": state.connections, "peak_in_flight": state.peak_in_flight}
            self.write(_response("200 OK", json.dumps(stats).encode()))
            return
        if method == "GET" and path == "/reset":  # between the tools of one comparison
            state.reset()
            self.write(_response("200 OK", b"{}"))
            return
        state.requests += 1
        if state.every and state.requests % state.every == 0:
            state.rate_limited += 1  # a rate limiter answers at once
            self.write(_response("429 Too Many Requests", b'{"error": {"message": "Rate limit reached"}}',
                                 "Retry-After: 1\r\n"))
            return
        request = json.loads(body)
        # the key: every message's text (synthetic-data-kit's QA prompts are a system message alone)
        state.keys[hash(tuple(str(m.get("content", "")) for m in request.get("messages", [])))] += 1
        state.answered += 1
        reply = _response("200 OK", json.dumps(peer_answer(request) or answer(request)).encode())
        state.in_flight += 1
        state.peak_in_flight = max(state.peak_in_flight, state.in_flight)
        asyncio.get_running_loop().call_later(state.latency, self.reply, reply)

    def reply(self, data: bytes) -> None:
        self.state.in_flight -= 1
        self.write(data)

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

    def reset(self) -> None:
        import httpx

        httpx.get(f"http://127.0.0.1:{self.port}/reset", timeout=10).raise_for_status()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def launch_server(script: str, *args: str) -> FakeServer:
    """`script --serve ARGS` in a child process, once it has printed the port it listens on."""
    process = subprocess.Popen([sys.executable, script, "--serve", *args], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("PORT "):
        process.kill()
        raise RuntimeError(f"the fake server did not start: {line!r}")
    return FakeServer(process, int(line.split()[1]))


def start_server(latency: float, rate_limit_every: int) -> FakeServer:
    return launch_server(__file__, "--latency", str(latency), "--rate-limit-every", str(rate_limit_every))


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
                 rate_limit_every: int, per_chunk: int = 2, server: FakeServer | None = None,
                 rounds: int | None = None) -> Outcome:
    """One generation run; on its own server unless `server` is given (then its counts are reset first)."""
    from finetune_core import Workspace
    from finetune_core.jobs import InlineRunner

    own_server = server is None
    if server is None:
        server = start_server(latency, rate_limit_every)
    else:
        server.reset()
    try:
        with tempfile.TemporaryDirectory() as tmp, Workspace.open(Path(tmp) / "ws", runner=InlineRunner()) as ws:
            project = ws.create_project(label, config={"generator": "openai-compatible", "model": "bench-model"})
            ws.add_file(project.id, text_path)
            ws.ingest(project.id)
            ws.chunk(project.id, size=512, overlap=50)
            chunks = len(ws.chunks(project.id, limit=None))
            bound = concurrency / latency
            if rounds is None:
                rounds = max(1, math.ceil(bound * seconds / chunks))  # enough requests for `seconds` at the bound
            target = chunks * per_chunk * rounds
            job = ws.generate(project.id, target=target, examples_per_chunk=per_chunk, settings={
                "base_url": server.url, "concurrency": concurrency, "timeout_s": 60})
            summary = job.result_summary
            stats = server.stats()
            with ws.unit_of_work() as uow:
                stored = [e for e in uow.examples.iterate(project.id) if (e.request_key or "").startswith("gen:")]
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
            checks["peak in flight at the server"] = stats["peak_in_flight"]
            checks["connections"] = stats["connections"]
            rate = summary["requests"] / summary["seconds"]
            return Outcome(label, concurrency, summary["requests"], summary["seconds"], rate / bound, checks)
    finally:
        if own_server:
            server.stop()


def compare_with_peer(text_path: Path, *, concurrency: int, latency: float, per_chunk: int = 2,
                      venv: Path | None = None) -> Outcome:
    """Ours, then synthetic-data-kit, on one fake server and one corpus, each going once through every chunk."""
    size_mb = text_path.stat().st_size / 1e6
    bound = concurrency / latency
    peer_python: Path | None = None
    reason = ""
    try:
        peer_python = ensure_peer(venv) if venv else ensure_peer()
    except PeerUnavailable as error:
        reason = str(error)
    server = start_server(latency, 0)
    try:
        ours = run_scenario("peer comparison: ours", text_path, concurrency=concurrency, latency=latency, seconds=0,
                            rate_limit_every=0, per_chunk=per_chunk, server=server, rounds=1)
        chunks = int(ours.checks["chunks"])
        theirs: PeerOutcome | None = None
        stats: dict[str, int] = {}
        if peer_python is not None:
            server.reset()
            try:
                theirs = run_peer(peer_python, base_url=server.url, corpus=text_path, concurrency=concurrency,
                                  chunks=chunks, pairs_per_chunk=per_chunk)
                stats = server.stats()
                if theirs.pairs == 0:
                    reason = (f"{PEER} ran but produced no pair ({stats['answered']} requests answered, "
                              f"{theirs.seconds:.1f} s)")
                    theirs = None
            except PeerUnavailable as error:
                reason = str(error)
    finally:
        server.stop()

    print(f"[peer] ours vs {PEER} on one fake server answering after {latency * 1000:.0f} ms, one {size_mb:.2f} MB "
          f"Markdown corpus, one after the other in this run; each goes once through every chunk")
    print(f"  ours:   openai-compatible generator, concurrency {concurrency} (requests in flight), 512/50-token chunks "
          f"({chunks}), {per_chunk} pairs per request; timed: the generation job (`seconds` in its summary)")
    if theirs is not None:
        print(f"  theirs: {PEER} {theirs.version} in its own venv, `{PEER} -c config.yaml create {text_path.name} "
              f"--type qa`, provider api-endpoint,\n"
              f"          batch_size {theirs.batch_size} (sends {theirs.batch_size} chunks at once, the next batch "
              f"once all are answered and parsed), chunk_size {theirs.chunk_size} characters ({theirs.chunks} chunks,\n"
              f"          sized to match ours; its overlap: the last 3 sentences), {per_chunk} pairs per chunk "
              f"(num_pairs {theirs.chunks * per_chunk}), plus its one summary request;\n"
              f"          timed: the create command (its imports excluded)")
    header = (f"{'tool':<20} {'requests':>8} {'pairs':>6} {'seconds':>8} {'pairs/min':>10} {'req/s':>7} {'bound':>6} "
              f"{'ratio':>6} {'peak C':>6} {'conns':>6}")
    print(f"  {header}")
    ours_pairs = int(ours.checks["examples stored"])
    ours_per_minute = ours_pairs / ours.seconds * 60
    print(f"  {'ours':<20} {ours.requests:>8} {ours_pairs:>6} {ours.seconds:>8.2f} {ours_per_minute:>10.0f} "
          f"{ours.requests / ours.seconds:>7.1f} {bound:>6.0f} {ours.ratio:>6.3f} "
          f"{ours.checks['peak in flight at the server']:>6} {ours.checks['connections']:>6}")
    if theirs is None:
        print(f"  {PEER}: NOT MEASURED: {reason}")
        return ours
    their_rate = stats["answered"] / theirs.seconds
    their_per_minute = theirs.pairs / theirs.seconds * 60
    print(f"  {PEER:<20} {stats['answered']:>8} {theirs.pairs:>6} {theirs.seconds:>8.2f} {their_per_minute:>10.0f} "
          f"{their_rate:>7.1f} {bound:>6.0f} {their_rate / bound:>6.3f} {stats['peak_in_flight']:>6} "
          f"{stats['connections']:>6}")
    print(f"  ours/theirs: pairs/minute {ours_per_minute / their_per_minute:.2f}x; requests/s over the bound "
          f"{ours.ratio:.3f} vs {their_rate / bound:.3f} ({ours.ratio / (their_rate / bound):.2f}x)")
    qa_requests = stats["answered"] - 1
    print(f"  theirs in detail: summary request {theirs.summary_seconds:.2f} s, QA batches {theirs.qa_seconds:.2f} s "
          f"({qa_requests / theirs.qa_seconds:.1f} req/s, {qa_requests / theirs.qa_seconds / bound:.3f} of the bound); "
          f"pairs expected {theirs.chunks * per_chunk}, got {theirs.pairs}, answers quoting the corpus "
          f"{theirs.grounded}; server: answered twice {stats['answered_twice']}")
    return ours


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
    parser.add_argument("--no-peer", action="store_true", help=f"skip the comparison with {PEER}")
    parser.add_argument("--peer-text-mb", type=float, default=1.8, help="the corpus of the peer comparison")
    parser.add_argument("--peer-concurrency", type=int, default=32, help="in flight, both tools (its batch_size)")
    parser.add_argument("--peer-venv", type=Path, default=None, help=f"the virtualenv of {PEER} (made if missing)")
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
        if not args.no_peer:
            peer_path = Path(tmp) / "peer-corpus.md"
            peer_path.write_text(make_text(args.peer_text_mb), encoding="utf-8")
            outcome = compare_with_peer(peer_path, concurrency=args.peer_concurrency, latency=args.latency,
                                        venv=args.peer_venv)
            outcomes.append(outcome)
            counts = ", ".join(f"{name} {value}" for name, value in outcome.checks.items())
            print(f"  counts, ours: {counts}")
        if not all(outcome.checks["nothing lost, nothing duplicated"] for outcome in outcomes):
            sys.exit("examples were lost or duplicated")


if __name__ == "__main__":
    main()
