"""The OpenAI-compatible inference route over transformers called directly, printed from one run on this machine.

The embedded chat model (the local-GPU plugin's SmolLM2-135M-Instruct, de-quantized to float32, on the CPU), one
greedy streamed answer of MAX_TOKENS new tokens (64) to the same question under the model's chat template, at 1
and at 8 concurrent streams, measured two ways one after the other (never at once: both use this machine's cores):

  direct  in this process: the weights loaded as the server loads them (`load_embedded()`), transformers'
          `generate` (greedy, max_new_tokens, the same pad token) on a thread of its own with a
          TextIteratorStreamer that the stream's thread reads, torch on the server's thread count
          (FINETUNE_EMBEDDED_THREADS, 1 unless set) set in the generating thread as the server sets it; at 8
          streams, 8 such streams started at once on the one shared model, each generating on its own thread;
  served  POST /v1/chat/completions on a live `finetune serve` (a subprocess, one gevent worker as it starts by
          default, a temporary workspace) with the official `openai` client (`stream=True`, max_tokens, temperature
          0) and an issued key (/api/apikeys) to a model of the bench's account that the embedded model serves
          (provider "embedded"); at 8 streams, 8 threads of this process asking at once through one client.
          The server is idle while the direct streams run; the bench process only reads SSE while it answers.

For each stream: the time to first token (from the request, or from the direct call, to the first piece of text
with content; direct: the first new token handed to the streamer, as the TextIteratorStreamer holds text back to a
word's end, where the server hands on each token's text at once), the time to its end, and its tokens (its text
encoded again with the model's tokenizer, as bench_chats.py counts, so both sides count alike). For each run of C
streams: the first token's median and p90 over the streams, the tokens/s of all the streams together (their
tokens over the time from the start of the run to the end of its last stream), and the median stream's tokens/s
after its first token. Each figure is the median of RUNS (3) runs after one warm-up run; the ratios are
served/direct for tokens/s and direct/served for the first token, so that >= 0.9 (the target) is good for both.

Every answer is checked: the route answered 200 with a finish_reason, each stream wrote text, and the served text
is the direct text (greedy decoding: the same tokens), so that a broken route cannot look fast. A last line says
where in its stream's time the first piece came (median): near 100% served means the answer came in one burst at
its end, not streamed. The server's first answer loads the model and is timed apart. An issued key allows 60
requests a minute: the default runs ask 37 (a 429 would be a failed stream, reported).

    python benchmarks/bench_inference.py [--max-tokens 64] [--runs 3] [--streams 1 8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from bench_web import Server, account, percentile

# the question of bench_chats.py: an answer that runs past the token budget, whatever the float rounding
PROMPT = "Count from 1 to 500, one number after another, separated by commas."
MAX_TOKENS = 64
RUNS = 3
STREAMS = (1, 8)
TARGET = 0.9
ANSWER_WAIT_S = 300.0  # a bound on one answer (the server's first loads the model: ~15 s on 2 cores)


@dataclass
class Stream:
    """One streamed answer: its text, seconds from its start to its first piece and to its end, its tokens."""

    text: str = ""
    first: float = 0.0
    end: float = 0.0
    tokens: int = 0
    error: str | None = None


@dataclass
class Run:
    """One run of C streams started at once."""

    streams: list[Stream]
    seconds: float  # from the run's start to the end of its last stream

    @property
    def errors(self) -> list[str]:
        return [stream.error for stream in self.streams if stream.error]

    def figures(self) -> dict[str, float]:
        firsts = [stream.first for stream in self.streams]
        return {
            "first_p50": statistics.median(firsts),
            "first_p90": percentile(firsts, 0.9),
            "tokens_s": sum(stream.tokens for stream in self.streams) / self.seconds,
            "decode_s": statistics.median((stream.tokens - 1) / max(stream.end - stream.first, 1e-9)
                                          for stream in self.streams),
        }


def run_streams(count: int, one: Callable[[], Stream]) -> Run:
    """`count` calls of `one` on as many threads, released together; a call that raised is a stream in error."""
    streams: list[Stream] = [Stream(error="not run") for _ in range(count)]
    barrier = threading.Barrier(count + 1)

    def worker(index: int) -> None:
        barrier.wait()
        try:
            streams[index] = one()
        except Exception as exc:  # reported with the figures: the other streams go on
            streams[index] = Stream(error=f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=worker, args=(index,), daemon=True) for index in range(count)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join(ANSWER_WAIT_S)
    return Run(streams, time.perf_counter() - start)


# --- direct: transformers in this process --------------------------------------------------------------------


class Direct:
    """transformers' generate on the embedded model's weights, as loaded by the server (one shared model)."""

    def __init__(self, max_tokens: int) -> None:
        from finetune_local_gpu.chat_model import GENERATION_THREADS
        from finetune_local_gpu.embedded import load_embedded

        loaded = load_embedded()
        self.tokenizer, self.model, self.max_tokens = loaded.tokenizer, loaded.model, max_tokens
        self.threads = GENERATION_THREADS
        pad = self.tokenizer.pad_token_id
        self.pad = pad if pad is not None else self.model.generation_config.pad_token_id

    def count(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def stream(self) -> Stream:
        import torch
        from transformers import TextIteratorStreamer

        class FirstToken(TextIteratorStreamer):  # type: ignore[misc]
            """Notes when generate hands over its first new token (the text comes at a word's end)."""

            at = 0.0

            def put(self, value: Any) -> None:
                if not self.next_tokens_are_prompt and not self.at:
                    self.at = time.perf_counter()
                super().put(value)

        start = time.perf_counter()
        inputs = self.tokenizer.apply_chat_template([{"role": "user", "content": PROMPT}], add_generation_prompt=True,
                                                    return_tensors="pt", return_dict=True)
        streamer = FirstToken(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=ANSWER_WAIT_S)
        failed: list[BaseException] = []

        def generate() -> None:
            torch.set_num_threads(self.threads)  # in the generating thread, as the server's chat model sets it
            try:
                with torch.inference_mode():
                    self.model.generate(**inputs, max_new_tokens=self.max_tokens, do_sample=False,
                                        streamer=streamer, pad_token_id=self.pad)
            except BaseException as exc:
                failed.append(exc)
                streamer.end()

        thread = threading.Thread(target=generate, daemon=True)
        thread.start()
        text = "".join(streamer)
        end = time.perf_counter()
        thread.join()
        if failed:
            raise failed[0]
        first = (streamer.at or end) - start
        return Stream(text=text, first=first, end=end - start, tokens=self.count(text),
                      error=None if text.strip() else "no text")


# --- served: POST /v1/chat/completions on a live `finetune serve` --------------------------------------------


class Served:
    """The official openai client on a live server's /v1 with a key issued to an embedded model of the account."""

    def __init__(self, server: Server, max_tokens: int, count: Callable[[str], int]) -> None:
        import openai

        headers = account(server.base)
        with httpx.Client(base_url=server.base, headers=headers, timeout=30) as http:
            model = http.post("/api/models", json={"name": "smol", "base_model": "SmolLM2-135M-Instruct",
                                                   "version": "1", "provider": "embedded"})
            if model.status_code != 201:
                raise SystemExit(f"POST /api/models answered {model.status_code}: {model.text[:300]}")
            self.model_id = str(model.json()["id"])
            issued = http.post("/api/apikeys", json={"model_id": self.model_id, "name": "bench"})
            if issued.status_code != 201:
                raise SystemExit(f"POST /api/apikeys answered {issued.status_code}: {issued.text[:300]}")
        self.client = openai.OpenAI(base_url=f"{server.base}/v1", api_key=issued.json()["key"],
                                    timeout=ANSWER_WAIT_S, max_retries=0)
        self.max_tokens, self.count = max_tokens, count

    def stream(self) -> Stream:
        start = time.perf_counter()
        raw = self.client.chat.completions.with_raw_response.create(
            model=self.model_id, messages=[{"role": "user", "content": PROMPT}], max_tokens=self.max_tokens,
            temperature=0, stream=True)
        if raw.status_code != 200:
            return Stream(error=f"{raw.status_code}")
        pieces: list[str] = []
        first = 0.0
        finish = None
        for chunk in raw.parse():
            if not chunk.choices:
                continue
            content = chunk.choices[0].delta.content
            if content:
                if not pieces:
                    first = time.perf_counter() - start
                pieces.append(content)
            finish = chunk.choices[0].finish_reason or finish
        end = time.perf_counter() - start
        text = "".join(pieces)
        error = None if text.strip() and finish in ("stop", "length") else f"text {text[:40]!r}, finish {finish}"
        return Stream(text=text, first=first, end=end, tokens=self.count(text), error=error)

    def close(self) -> None:
        self.client.close()  # no keep-alive connection left to hold the server's shutdown


# --- the comparison --------------------------------------------------------------------------------------------


def measure(label: str, count: int, one: Callable[[], Stream], runs: int) -> tuple[dict[str, float], list[Run]]:
    """The median of each figure over `runs` runs of `count` streams, after one warm-up run."""
    warm = run_streams(count, one)
    measured = [run_streams(count, one) for _ in range(runs)]
    problems = [error for run in [warm, *measured] for error in run.errors]
    if problems:
        print(f"  {label}: {len(problems)} streams failed, e.g. {problems[0]}")
    figures = [run.figures() for run in measured]
    return {name: statistics.median(figure[name] for figure in figures) for name in figures[0]}, measured


def report(count: int, direct: dict[str, float], served: dict[str, float], direct_runs: list[Run],
           served_runs: list[Run]) -> None:
    rows = (  # (label, figure, unit scale, format, ratio served/direct (True) or direct/served)
        ("first token p50", "first_p50", 1000, "{:7.0f} ms", False),
        ("first token p90", "first_p90", 1000, "{:7.0f} ms", False),
        ("tokens/s, all streams", "tokens_s", 1, "{:7.1f}   ", True),
        ("tokens/s after the 1st", "decode_s", 1, "{:7.1f}   ", True),
    )
    print(f"  {count} stream{'s' if count > 1 else ''} at once{'':<17} {'direct':>10}  {'served':>10}   "
          f"{'ratio':>5}  (target >= {TARGET})")
    for label, name, scale, form, served_over_direct in rows[:1] + rows[2:] if count == 1 else rows:
        ratio = served[name] / direct[name] if served_over_direct else direct[name] / served[name]
        print(f"    {label:<30} {form.format(scale * direct[name])}  {form.format(scale * served[name])}   "
              f"{ratio:5.2f}  {'met' if ratio >= TARGET else 'NOT met'}")
    direct_texts = {stream.text for run in direct_runs for stream in run.streams}
    served_texts = {stream.text for run in served_runs for stream in run.streams}
    tokens = sorted({stream.tokens for run in [*direct_runs, *served_runs] for stream in run.streams})
    same = "the same text" if direct_texts == served_texts and len(direct_texts) == 1 else "DIFFERENT texts"
    print(f"    every stream: {tokens[0]}{f' to {tokens[-1]}' if len(tokens) > 1 else ''} tokens; direct and served "
          f"wrote {same}")

    def first_share(runs: list[Run]) -> float:  # where in its answer's time a stream's first piece came
        return statistics.median(stream.first / stream.end for run in runs for stream in run.streams if stream.end)

    direct_share, served_share = first_share(direct_runs), first_share(served_runs)
    burst = "; the served answers came in one burst at their end: the route did not stream" * (served_share > 0.9)
    print(f"    the first piece came at {100 * direct_share:.0f}% of its stream's time direct, "
          f"{100 * served_share:.0f}% served (median){burst}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-tokens", type=int, default=MAX_TOKENS, help="new tokens of each answer")
    parser.add_argument("--runs", type=int, default=RUNS, help="measured runs of each case (after a warm-up)")
    parser.add_argument("--streams", type=int, nargs="+", default=list(STREAMS), help="concurrent streams")
    args = parser.parse_args()
    os.environ.setdefault("TQDM_DISABLE", "1")  # read by tqdm as it is imported (the GGUF conversion's bar)
    import torch
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    direct = Direct(args.max_tokens)
    print(f"[inference] SmolLM2-135M-Instruct on the CPU, {args.max_tokens} new tokens, greedy; torch "
          f"{torch.__version__}, generating on {direct.threads} thread(s) (FINETUNE_EMBEDDED_THREADS) on "
          f"{os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f} before); median of {args.runs} runs after "
          f"a warm-up, direct then served, one after the other")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        try:
            server = Server(root, 1, 8)  # as `finetune serve` starts: one gevent worker
        except SystemExit:
            for log in root.parent.glob("serve-*.log"):
                print(f"{log.name}:\n{log.read_text(errors='replace')[-3000:]}", file=sys.stderr)
            raise
        try:
            served = Served(server, args.max_tokens, direct.count)
            start = time.perf_counter()
            loading = served.stream()  # the server loads the model on its first answer
            print(f"  the server's first answer, loading the model: {time.perf_counter() - start:.1f} s"
                  + (f" ({loading.error})" if loading.error else ""))
            for count in args.streams:
                direct_figures, direct_runs = measure("direct", count, direct.stream, args.runs)
                served_figures, served_runs = measure("served", count, served.stream, args.runs)
                report(count, direct_figures, served_figures, direct_runs, served_runs)
            served.close()
        finally:
            server.stop()
    print("  tokens/s, all streams: their tokens over the run's time; after the 1st: the median stream's tokens "
          "after its first over the time after it; ratios served/direct (first token: direct/served)")


if __name__ == "__main__":
    main()
