"""Chat benchmarks, printed from one run on this machine.

1. the embedded chat model (the local-GPU plugin's SmolLM2-135M-Instruct, on the CPU): its load time, then for
   a streamed answer of 64 and of 256 tokens (greedy, temperature 0), the time to first token and tokens/s,
   median of 3 runs after one warm-up (each answer's tokens counted by encoding its text again with the
   model's tokenizer: a token or so off the count generated, for the figures' sake);
2. GET /api/chats on a live `finetune serve` (one gevent worker, as it starts by default) at C connections
   (8), alone and while S answers (32) stream over SSE (GET /api/messages/stream/{chat_id}): requests/s, p50,
   p99, and p99 beside the streams over p99 alone. The chats answer with an OpenAI-compatible model served by
   a fake Chat Completions server in this process, which streams a word every 50 ms for ~20 s, so the streams
   stay open through the measurement. The server writes at most 16 answers at once per process
   (finetune_web's messages.ANSWER_THREADS): the others wait for one to end, and the bench says how many
   streams received tokens through the measurement. Every answer is checked (200, the page of all the chats),
   and every exchange is checked stored once its stream has ended (the chat holds 2 messages, the answer).

The load generator is an asyncio aiohttp client in this process, on the same machine as the server:
on a small machine the two share the cores, so the figures are a floor.

    python benchmarks/bench_chats.py [--streams 32] [--seconds 10] [--connections 8] [--skip-embedded]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from bench_web import Server, account, free_port, percentile

# An answer that goes on past 256 tokens whatever the float rounding: greedy answers to open prompts (an essay, a
# list of facts) ended anywhere from 124 tokens on, from one run of the bench to the next. A token costs the same
# whatever it says.
PROMPT = "Count from 1 to 500, one number after another, separated by commas."
ANSWER_LENGTHS = (64, 256)
RUNS = 3
WORD_EVERY_S = 0.05  # the fake model's pace: one word per 50 ms
QUESTION = "hello"


# --- 1. the embedded chat model ------------------------------------------------------------------------------


async def timed_stream(model: Any, messages: list[Any]) -> tuple[str, float, float]:
    """The streamed answer's text, the seconds to its first piece and to its end, from the call to `stream`."""
    pieces: list[str] = []
    start = time.perf_counter()
    first = 0.0
    async for piece in model.stream(messages):
        if not pieces:
            first = time.perf_counter() - start
        pieces.append(piece)
    return "".join(pieces), first, time.perf_counter() - start


def bench_embedded() -> None:
    from finetune_core.chat.base import ChatSettings
    from finetune_core.domain import Message

    os.environ.setdefault("TQDM_DISABLE", "1")  # read by tqdm as it is imported (the GGUF conversion's bar)
    start = time.perf_counter()
    import torch
    import transformers  # imported here so the load below times the model alone
    from finetune_local_gpu.chat_model import EmbeddedChatModel
    from finetune_local_gpu.embedded import embedded_model_file, load_embedded

    transformers.utils.logging.disable_progress_bar()  # no progress bars on stderr (the GGUF one: TQDM_DISABLE)

    imported = time.perf_counter() - start
    start = time.perf_counter()
    tokenizer = load_embedded().tokenizer
    loaded = time.perf_counter() - start
    size = embedded_model_file().stat().st_size / 1e6
    print(f"[embedded] SmolLM2-135M-Instruct ({size:.0f} MB GGUF, de-quantized to float32) on the CPU, "
          f"torch {torch.__version__} on {torch.get_num_threads()} threads, {os.cpu_count()} cores "
          f"(load average {os.getloadavg()[0]:.1f} before it)")
    print(f"  load: {loaded:5.1f} s (import torch + transformers before it: {imported:.1f} s)")
    messages = [Message(role="user", content=PROMPT)]
    asyncio.run(timed_stream(EmbeddedChatModel(ChatSettings(temperature=0, max_tokens=16)), messages))  # warm-up
    print(f"  {'answer':>8}  {'tokens':>6}  {'first token':>11}  {'whole answer':>12}  {'tokens/s':>8}  "
          f"{'after the 1st':>13}   (median of {RUNS} streamed runs after a warm-up)")
    for length in ANSWER_LENGTHS:
        model = EmbeddedChatModel(ChatSettings(temperature=0, max_tokens=length))
        runs = [asyncio.run(timed_stream(model, messages)) for _ in range(RUNS)]
        counts = [len(tokenizer.encode(text, add_special_tokens=False)) for text, _, _ in runs]  # re-encoded
        tokens = statistics.median(counts)
        first = statistics.median(run[1] for run in runs)
        whole = statistics.median(run[2] for run in runs)
        decode = statistics.median((count - 1) / (run[2] - run[1]) for count, run in zip(counts, runs, strict=True))
        notes = [] if len({text for text, _, _ in runs}) == 1 else ["the greedy answers differed between runs"]
        if tokens < 0.9 * length:
            notes.append("the model ended its answer early")
        print(f"  {length:>8}  {tokens:>6.0f}  {1000 * first:8.0f} ms  {whole:10.2f} s  {tokens / whole:8.1f}  "
              f"{decode:13.1f}" + (f"   ({'; '.join(notes)})" if notes else ""))
    print("  tokens/s: the answer's tokens over the whole answer; after the 1st: the tokens after the first over "
          "the time after it")


# --- 2. GET /api/chats beside streamed answers ----------------------------------------------------------------


class FakeChatCompletions:
    """A threaded Chat Completions server on 127.0.0.1: every streamed answer a word every WORD_EVERY_S."""

    def __init__(self, words: int) -> None:
        self.words = words
        self.streams_started = 0
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):  # HTTP/1.0: each answer ends with its connection
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                if self.path != "/v1/chat/completions":
                    self.send_error(404)
                    return
                if not body.get("stream"):
                    self._send_json({"id": "chatcmpl-1", "object": "chat.completion", "model": body.get("model"),
                                     "choices": [{"index": 0, "finish_reason": "stop", "message": {
                                         "role": "assistant", "content": fake.answer()}}]})
                    return
                with fake._lock:
                    fake.streams_started += 1
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                try:
                    self._event({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
                    for number in range(fake.words):
                        self._event({"choices": [{"index": 0, "delta": {"content": f"word{number} "}}]})
                        time.sleep(WORD_EVERY_S)
                    self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                    self._event("[DONE]")
                except OSError:
                    pass  # the client left

            def _event(self, data: dict[str, Any] | str) -> None:
                payload = data if isinstance(data, str) else json.dumps(data)
                self.wfile.write(f"data: {payload}\n\n".encode())
                self.wfile.flush()

            def _send_json(self, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def answer(self) -> str:
        return "".join(f"word{number} " for number in range(self.words))

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class Follower:
    """What one SSE client saw of its streamed answer."""

    chat_id: str
    status: int = 0
    tokens: list[str] = field(default_factory=list)
    token_times: list[float] = field(default_factory=list)
    done: bool = False
    errors: list[str] = field(default_factory=list)


async def follow(session: Any, base: str, follower: Follower) -> None:
    """GET /api/messages/stream/{chat_id}, read to [DONE]."""
    try:
        async with session.get(f"{base}/api/messages/stream/{follower.chat_id}",
                               params={"message": QUESTION}) as response:
            follower.status = response.status
            if response.status != 200:
                follower.errors.append(f"{response.status}: {(await response.text())[:200]}")
                return
            async for raw in response.content:
                line = raw.decode().strip()
                if not line.startswith("data:"):
                    continue
                data = line.removeprefix("data:").strip()
                if data == "[DONE]":
                    follower.done = True
                    return
                event = json.loads(data)
                if "token" in event:
                    follower.tokens.append(event["token"])
                    follower.token_times.append(time.perf_counter())
                else:
                    follower.errors.append(str(event))
    except Exception as exc:  # reported with the results, not raised: the other streams go on
        follower.errors.append(f"{type(exc).__name__}: {exc}")


def chats_page_ok(body: Any, chat_ids: set[str]) -> bool:
    """GET /api/chats's page of all the chats: items (and `chats`, the same), total, each chat's fields."""
    if not isinstance(body, dict) or body.get("total") != len(chat_ids):
        return False
    items = body.get("items")
    if not isinstance(items, list) or body.get("chats") != items:
        return False
    return {item.get("id") for item in items} == chat_ids and all(
        isinstance(item.get("title"), str) and isinstance(item.get("model_id"), str) and "updated_at" in item
        for item in items)


async def chats_load(base: str, headers: dict[str, str], chat_ids: set[str], connections: int,
                     seconds: float) -> tuple[list[float], int]:
    """`connections` clients asking GET /api/chats for `seconds`; (latencies in s, wrong answers)."""
    import aiohttp

    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            async with session.get(f"{base}/api/chats") as response:
                body = await response.json() if response.status == 200 else None
            latencies.append(time.perf_counter() - start)
            errors += response.status != 200 or not chats_page_ok(body, chat_ids)

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(headers=headers, connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=60)) as session:
        await asyncio.gather(*(client(session) for _ in range(connections)))
    return latencies, errors


def create_chats(base: str, headers: dict[str, str], model_id: str, count: int) -> list[str]:
    ids = []
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        for number in range(count):
            created = http.post("/api/chats", json={"title": f"stream {number}", "model_id": model_id})
            if created.status_code != 201:
                raise SystemExit(f"POST /api/chats answered {created.status_code}: {created.text[:300]}")
            ids.append(str(created.json()["id"]))
    return ids


def check_stored(base: str, headers: dict[str, str], followers: list[Follower], answer: str) -> list[str]:
    """What is wrong with the stored exchanges (each chat: the question, then the whole answer)."""
    wrong = []
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        for follower in followers:
            body = http.get(f"/api/messages/chat/{follower.chat_id}").json()
            roles = [message["role"] for message in body.get("items", [])]
            contents = [message["content"] for message in body.get("items", [])]
            if body.get("total") != 2 or roles != ["user", "assistant"] or contents != [QUESTION, answer]:
                wrong.append(f"chat {follower.chat_id}: {body.get('total')} messages, roles {roles}")
    return wrong


def bench_chats_beside_streams(root: Path, streams: int, connections: int, seconds: float) -> None:
    import aiohttp

    settle_s = 10.0  # to open every stream, and the time after the measurement before the answers end
    fake = FakeChatCompletions(words=int((seconds + settle_s) / WORD_EVERY_S))
    os.environ["FINETUNE_ALLOWED_MODEL_HOSTS"] = f"127.0.0.1:{fake.port}"
    try:
        server = Server(root, 1, 8)  # as `finetune serve` starts: one gevent worker
    except SystemExit:
        fake.stop()
        for log in root.parent.glob("serve-*.log"):  # the workspace's folder goes with the bench
            print(f"{log.name}:\n{log.read_text(errors='replace')[-3000:]}", file=sys.stderr)
        raise
    try:
        headers = account(server.base)
        model_id = f"openai-compatible:fake@http://127.0.0.1:{fake.port}/v1"
        chat_ids = create_chats(server.base, headers, model_id, streams)
        ids = set(chat_ids)
        print(f"[chats] GET /api/chats ({streams} chats) at {connections} connections, {seconds:.0f} s each, one "
              f"gevent worker; the streams: a word every {1000 * WORD_EVERY_S:.0f} ms for "
              f"{fake.words * WORD_EVERY_S:.0f} s from a fake Chat Completions server "
              f"(load average {os.getloadavg()[0]:.1f} before)")

        def line(label: str, latencies: list[float], errors: int) -> float:
            p50, p99 = 1000 * statistics.median(latencies), 1000 * percentile(latencies, 0.99)
            print(f"  {label:<24} {len(latencies) / seconds:8.1f} requests/s   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms"
                  f"   {errors} wrong answers of {len(latencies)}")
            return p99

        async def scenario() -> None:
            await chats_load(server.base, headers, ids, connections, 2.0)  # warm-up
            alone = line("alone", *await chats_load(server.base, headers, ids, connections, seconds))
            followers = [Follower(chat_id) for chat_id in chat_ids]
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(headers=headers, connector=connector,
                                             timeout=aiohttp.ClientTimeout(total=None, sock_read=60)) as session:
                opened = time.perf_counter()
                tasks = [asyncio.create_task(follow(session, server.base, follower)) for follower in followers]
                # until every stream has its first token, or no other one has had it for 2 s (the server
                # answers a bounded number at once: the others wait for one to end)
                receiving, changed = 0, opened
                while receiving < streams and time.perf_counter() - opened < settle_s:
                    now_receiving = sum(bool(follower.tokens) for follower in followers)
                    if now_receiving != receiving:
                        receiving, changed = now_receiving, time.perf_counter()
                    elif receiving and time.perf_counter() - changed > 2.0:
                        break
                    await asyncio.sleep(0.05)
                ready = changed - opened
                start = time.perf_counter()
                beside = await chats_load(server.base, headers, ids, connections, seconds)
                end = time.perf_counter()
                # a stream was receiving through the measurement if its tokens came in its first and last second
                steady = sum(any(start <= at < start + 1 for at in follower.token_times)
                             and any(end - 1 <= at < end for at in follower.token_times) for follower in followers)
                label = f"beside {streams} streams" if steady == streams else f"beside {steady} of {streams} streams"
                streamed = line(label, *beside)
                print(f"  p99 beside the streams / alone: {streamed / alone:.2f}x")
                print(f"  {receiving}/{streams} streams had their first token when the measurement began "
                      f"({ready:.1f} s after they were asked); {steady}/{streams} received tokens in its first and "
                      f"its last second")
                await asyncio.gather(*tasks)
            firsts = sorted(follower.token_times[0] - opened for follower in followers if follower.token_times)
            late = [delay for delay in firsts if delay > start - opened]
            if late:
                print(f"  {len(late)} streams had their first token only {min(late):.1f} to {max(late):.1f} s after "
                      f"they were asked, as earlier answers ended")
            answer = fake.answer()
            failed = [f for f in followers if f.status != 200 or not f.done or f.errors or "".join(f.tokens) != answer]
            wrong = check_stored(server.base, headers, followers, answer.strip())  # stored stripped
            print(f"  {streams - len(failed)}/{streams} streams read whole to [DONE] ({fake.streams_started} asked of "
                  f"the fake model); {streams - len(wrong)}/{streams} exchanges stored (2 messages, the whole answer)")
            for follower in failed[:5]:
                print(f"    stream of chat {follower.chat_id}: status {follower.status}, "
                      f"{len(follower.tokens)} tokens, done {follower.done}, errors {follower.errors[:2]}")
            for problem in wrong[:5]:
                print(f"    {problem}")

        asyncio.run(scenario())
    finally:
        server.stop()
        fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=32, help="answers streaming beside the reads")
    parser.add_argument("--seconds", type=float, default=10.0, help="each measurement of GET /api/chats")
    parser.add_argument("--connections", type=int, default=8, help="clients asking GET /api/chats at once")
    parser.add_argument("--skip-embedded", action="store_true", help="skip the embedded chat model's benchmark")
    args = parser.parse_args()
    if not args.skip_embedded:
        bench_embedded()
    with tempfile.TemporaryDirectory() as tmp:
        bench_chats_beside_streams(Path(tmp) / "ws", args.streams, args.connections, args.seconds)


if __name__ == "__main__":
    main()
