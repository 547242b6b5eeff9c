"""The peer in `bench_generation.py`: Meta's synthetic-data-kit against the same fake server and corpus.

synthetic-data-kit (`pip install synthetic-data-kit`, pinned below) lives in its own virtualenv
(`.nox/peer-synthetic-data-kit-<version>` unless told otherwise), made and filled on first use, and
runs there as a subprocess of the benchmark: this file, run with `--drive` by that venv's Python,
writes a config for its `api-endpoint` (OpenAI-compatible) provider and calls its command line,
`synthetic-data-kit -c config.yaml create CORPUS --type qa`, in-process, timed from the call to its
return (the interpreter's start and the imports are not counted; its summary request, chunking, QA
batches and writing its JSON are).

Its configuration, the packaged `config.yaml` with only these changed:
    api-endpoint: api_base = the fake server, api_key, model
    generation.batch_size = the in-flight limit C (it sends each batch of C chunks at once, waits
        for all C answers, parses them, then sends the next batch)
    generation.chunk_size = the characters that give as many chunks as ours, found with its own
        `split_into_chunks` (its overlap is its own: the last 3 sentences of the previous chunk)
    generation.num_pairs = chunks x pairs per chunk, so that it goes through every chunk
    prompts.qa_generation: "Create {num_pairs} question-answer pairs ..." instead of "Create
        question-answer pairs ...", its template's own `num_pairs` (pairs per chunk), so that the
        fake server knows how many to answer; the rest of its prompt is left as it is.

`peer_answer` is what the fake server answers to its prompts: a short summary for its summary
request, and for a QA prompt a JSON array of {"question", "answer"}, each answer a sentence of the
chunk (the same sentences as our examples get, from `finetune_providers.testing`).

    python benchmarks/bench_peer_sdk.py --install    # make its venv, print its Python
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PEER = "synthetic-data-kit"
PEER_VERSION = "0.0.5"
# never a CUDA build: if anything it pulls wanted torch, this one (a CPU wheel on this machine's disk) would come
TORCH = "torch==2.13.0"
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VENV = ROOT / ".nox" / f"peer-{PEER}-{PEER_VERSION}"

_QA_MARK = "question-answer pairs from this text"
_TEXT_MARK = "\nText:\n"
_COUNT = re.compile(r"Create (\d+) question-answer pairs")


class PeerUnavailable(Exception):
    """synthetic-data-kit could not be installed or run; the message says why."""


# --- the fake server's answers to its prompts (called in the server's process) -------------------------------------

def peer_answer(body: dict[str, Any]) -> dict[str, Any] | None:
    """The fake answer to a synthetic-data-kit request, or None when the request is not one of its prompts."""
    messages = body.get("messages", [])
    system = next((str(m.get("content", "")) for m in messages if m.get("role") == "system"), "")
    if not system.startswith("Summarize this document") and _QA_MARK not in system:
        return None  # ours, or anything else
    from finetune_providers.testing import completion_json, examples_text

    if system.startswith("Summarize this document"):
        text = "The document describes sourdough baking: starter, dough, fermentation and the oven."
    elif _QA_MARK in system and _TEXT_MARK in system:
        passage = system.rsplit(_TEXT_MARK, 1)[1].strip()
        count = _COUNT.search(system)
        examples = json.loads(examples_text(passage, 0, int(count.group(1)) if count else 1))["examples"]
        text = json.dumps([{"question": e["question"], "answer": e["answer"]} for e in examples], indent=2)
    else:
        return None
    chars = sum(len(str(m.get("content", ""))) for m in messages)
    return completion_json(text, model=str(body.get("model")), prompt_tokens=chars // 4,
                           completion_tokens=len(text) // 4)


# --- its virtualenv ------------------------------------------------------------------------------------------------

def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def installed_version(python: Path) -> str | None:
    if not python.exists():
        return None
    probe = subprocess.run([str(python), "-c", f"import importlib.metadata as m; print(m.version('{PEER}'))"],
                           capture_output=True, text=True)
    return probe.stdout.strip() if probe.returncode == 0 else None


def ensure_peer(venv: Path = DEFAULT_VENV) -> Path:
    """The Python of a virtualenv holding synthetic-data-kit, made and filled if it is not there yet."""
    python = _venv_python(venv)
    if installed_version(python) == PEER_VERSION:
        return python
    started = time.perf_counter()
    print(f"[peer] installing {PEER}=={PEER_VERSION} into {venv} (once) ...", flush=True)
    if not python.exists():
        made = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True)
        if made.returncode != 0:
            raise PeerUnavailable(f"`python -m venv {venv}` failed: {(made.stderr or made.stdout).strip()[-800:]}")
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as constraints:
        constraints.write(TORCH + "\n")
    try:
        pip = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                              "--constraint", constraints.name, f"{PEER}=={PEER_VERSION}"],
                             capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired as error:
        raise PeerUnavailable(f"`pip install {PEER}=={PEER_VERSION}` took over 900 s") from error
    finally:
        os.unlink(constraints.name)
    if pip.returncode != 0:
        lines = [line for line in (pip.stderr + pip.stdout).splitlines() if not line.startswith("WARNING: Location")]
        raise PeerUnavailable(f"`pip install {PEER}=={PEER_VERSION}` failed (exit {pip.returncode}): "
                              + " | ".join(lines[-6:]))
    version = installed_version(python)
    if version != PEER_VERSION:
        raise PeerUnavailable(f"after pip install, {PEER} reports version {version!r}, not {PEER_VERSION}")
    print(f"[peer] installed in {time.perf_counter() - started:.0f} s", flush=True)
    return python


# --- the benchmark's side: run it in its venv against a server ----------------------------------------------------

@dataclass
class PeerOutcome:
    version: str
    chunks: int
    chunk_size: int
    batch_size: int
    pairs_per_chunk: int
    pairs: int
    grounded: int
    seconds: float  # the `create` command, summary request included
    qa_seconds: float  # its QA batches alone
    summary_seconds: float
    exit_code: int


def run_peer(python: Path, *, base_url: str, corpus: Path, concurrency: int, chunks: int, pairs_per_chunk: int,
             timeout_s: float = 900) -> PeerOutcome:
    """Run synthetic-data-kit's `create --type qa` on `corpus` against `base_url`, in its venv, and read its result."""
    with tempfile.TemporaryDirectory() as tmp:
        result_path = Path(tmp) / "result.json"
        log_path = Path(tmp) / "peer.log"
        command = [str(python), __file__, "--drive", "--base-url", base_url, "--corpus", str(corpus),
                   "--concurrency", str(concurrency), "--chunks", str(chunks), "--pairs-per-chunk",
                   str(pairs_per_chunk), "--workdir", tmp, "--result", str(result_path)]
        with log_path.open("w") as log:
            try:
                done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, timeout=timeout_s,
                                      env={**os.environ, "PYTHONUNBUFFERED": "1"})
            except subprocess.TimeoutExpired as error:
                raise PeerUnavailable(f"{PEER} ran over {timeout_s:.0f} s") from error
        tail = " | ".join(log_path.read_text(errors="replace").splitlines()[-8:])
        if done.returncode != 0 or not result_path.exists():
            raise PeerUnavailable(f"{PEER} exited {done.returncode}: {tail}")
        result = json.loads(result_path.read_text())
        if result["exit_code"] != 0:
            raise PeerUnavailable(f"{PEER} create returned {result['exit_code']}: {tail}")
        return PeerOutcome(**result)


# --- in its venv: `--drive` ----------------------------------------------------------------------------------------

def _chunk_size_for(split: Any, text: str, chunks: int) -> int:
    """The smallest chunk size (characters) for which its own splitter gives at most `chunks` chunks."""
    low, high = 100, max(200, len(text))
    while low < high:
        middle = (low + high) // 2
        if len(split(text, chunk_size=middle)) <= chunks:
            high = middle
        else:
            low = middle + 1
    return low


def drive(args: argparse.Namespace) -> None:
    import importlib.metadata

    import yaml
    from synthetic_data_kit import cli
    from synthetic_data_kit.core import create  # noqa: F401 - imported before the clock starts, as the CLI does
    from synthetic_data_kit.generators.qa_generator import QAGenerator
    from synthetic_data_kit.utils.config import DEFAULT_CONFIG_PATH
    from synthetic_data_kit.utils.text import split_into_chunks

    corpus = Path(args.corpus)
    text = corpus.read_text(encoding="utf-8")
    chunk_size = _chunk_size_for(split_into_chunks, text, args.chunks)
    chunks = len(split_into_chunks(text, chunk_size=chunk_size))
    with open(DEFAULT_CONFIG_PATH, encoding="utf-8") as packaged:
        config = yaml.safe_load(packaged)
    config["llm"]["provider"] = "api-endpoint"
    config["api-endpoint"].update({"api_base": args.base_url, "api_key": "bench-key", "model": "bench-model"})
    config["generation"].update({"chunk_size": chunk_size, "batch_size": args.concurrency,
                                 "num_pairs": chunks * args.pairs_per_chunk})
    prompt = config["prompts"]["qa_generation"]
    if "{num_pairs}" not in prompt:
        prompt = prompt.replace("Create question-answer pairs", "Create {num_pairs} question-answer pairs", 1)
    config["prompts"]["qa_generation"] = prompt
    workdir = Path(args.workdir)
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")

    timings: dict[str, float] = {}

    def timed(name: str, method: Any) -> Any:
        def wrapper(*a: Any, **k: Any) -> Any:
            started = time.perf_counter()
            try:
                return method(*a, **k)
            finally:
                timings[name] = timings.get(name, 0.0) + time.perf_counter() - started
        return wrapper

    QAGenerator.generate_summary = timed("summary", QAGenerator.generate_summary)  # type: ignore[method-assign]
    QAGenerator.generate_qa_pairs = timed("qa", QAGenerator.generate_qa_pairs)  # type: ignore[method-assign]
    out = workdir / "generated"
    started = time.perf_counter()
    exit_code = cli.app(["-c", str(config_path), "create", str(corpus), "--type", "qa", "-o", str(out)],
                        standalone_mode=False)
    seconds = time.perf_counter() - started
    produced = out / f"{corpus.stem}_qa_pairs.json"
    pairs = json.loads(produced.read_text(encoding="utf-8"))["qa_pairs"] if produced.exists() else []
    grounded = sum(1 for p in pairs if isinstance(p, dict) and p.get("question") and str(p.get("answer")) in text)
    result = {"version": importlib.metadata.version(PEER), "chunks": chunks, "chunk_size": chunk_size,
              "batch_size": args.concurrency, "pairs_per_chunk": args.pairs_per_chunk, "pairs": len(pairs),
              "grounded": grounded, "seconds": seconds, "qa_seconds": timings.get("qa", 0.0),
              "summary_seconds": timings.get("summary", 0.0), "exit_code": int(exit_code or 0)}
    Path(args.result).write_text(json.dumps(result), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--install", action="store_true", help="make its venv and print its Python")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--drive", action="store_true", help=argparse.SUPPRESS)
    for name in ("--base-url", "--corpus", "--workdir", "--result"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    for name in ("--concurrency", "--chunks", "--pairs-per-chunk"):
        parser.add_argument(name, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        drive(args)
    elif args.install:
        try:
            print(ensure_peer(args.venv))
        except PeerUnavailable as error:
            sys.exit(f"{PEER} unavailable: {error}")
    else:
        parser.print_help()


if __name__ == "__main__":
    main()
