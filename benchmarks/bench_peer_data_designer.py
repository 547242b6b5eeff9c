"""A second peer for `bench_generation.py`: NVIDIA's Data Designer against an OpenAI-compatible (fake) server.

Data Designer (`pip install data-designer`, pinned below) lives in its own virtualenv
(`.nox/peer-data-designer`), made and filled on first use, and runs there as a subprocess: this
file, run with `--drive` by that venv's Python, builds one dataset of N rows whose only LLM column
makes one chat-completion request per row, and reports what it did as JSON.

What it runs (data_designer 0.9.7, its public API):

    ModelProvider(name="bench", endpoint=URL, provider_type="openai", api_key="not-needed")
    ModelConfig(alias="bench", model=MODEL, provider="bench", skip_health_check=True,
                inference_parameters=ChatCompletionInferenceParams(max_parallel_requests=64))
    DataDesignerConfigBuilder(model_configs=[...])
        .add_column(SamplerColumnConfig(name="item_id", sampler_type="uuid", params=UUIDSamplerParams()))
        .add_column(LLMTextColumnConfig(name="text", model_alias="bench",
                                        prompt="Write one sentence about item {{ item_id }}."))
    designer = DataDesigner(artifact_path=TMP, model_providers=[provider])
    designer.set_run_config(RunConfig(otel_metrics_port=None))
    designer.create(builder, num_records=N)          # timed: `seconds`

Its concurrency: every model request goes through `AdaptiveRequestAdmissionController`
(data_designer/engine/models/request_admission/controller.py), created by every `DataDesigner`
with no switch to turn it off; with `RunConfig.request_admission` left unset it uses the defaults
of `RequestAdmissionConfig` (…/request_admission/config.py, the same as the public
`RequestAdmissionTuningConfig`): it starts at the cap (`startup_ramp_seconds` 0.0), which is
`max_parallel_requests`; on each 429 the limit becomes floor(limit x 0.75) (at least 1; only when
that request was admitted under the current limit, so one burst of 429s lowers it once) and all
admissions pause for Retry-After seconds (2.0 s when the server gives none); after 25 successes in a
row outside a pause it grows by 1, up to the cap. A 429 is not retried by the HTTP layer: the
scheduler defers the row and retries it later, without a retry limit for 429s.

Settings: all at their defaults but `max_parallel_requests`, whose default (4, on
`BaseInferenceParams`) is far below what we compare with: it is set to 64 (`--max-parallel`), the
highest concurrency `bench_generation.py` uses, so Data Designer's AIMD starts at 64 and may climb
back to it but never above. `skip_health_check=True` (and DATA_DESIGNER_SKIP_MODEL_HEALTH_CHECKS=1)
drop its probe request, so that the server sees exactly N requests when none is answered 429.

Offline: the subprocess runs with NEMO_TELEMETRY_ENABLED=false (its usage events to NVIDIA and its
X-Title header are off), DATA_DESIGNER_HOME in a temporary folder (it writes default model configs
there), DISABLE_DATA_DESIGNER_PLUGINS=true, HF_HUB_OFFLINE=1, `otel_metrics_port=None` (no metrics
endpoint on 127.0.0.1:9464), and a guard that refuses, at once, and lists every name lookup or
connection other than loopback's (`outside_connections`). Its one outside wish: the profiling at the
end of `create` asks tiktoken for cl100k_base (openaipublic.blob.core.windows.net:443, twice), is
refused and logs a warning; its token statistics are missing, the dataset is not affected.

    python benchmarks/bench_peer_data_designer.py --install
    python benchmarks/bench_peer_data_designer.py --url http://127.0.0.1:PORT/v1 --requests 300
    python benchmarks/bench_peer_data_designer.py --self-check [--requests 300] [--cap 32]
        (bench_generation's fake server, made to read Data Designer's messages: as it is, then answering
        429 beyond --cap in flight; bench_generation's own server fails on them, see `_flatten`)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_peer_sdk import PeerUnavailable

PEER = "data-designer"
PEER_VERSION = "0.9.7"
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VENV = ROOT / ".nox" / "peer-data-designer"
MAX_PARALLEL_REQUESTS = 64  # its default is 4
_STAMP = f".installed-{PEER}-{PEER_VERSION}"

__all__ = ["DataDesignerOutcome", "PeerUnavailable", "ensure_data_designer", "run_data_designer"]


# --- its virtualenv ------------------------------------------------------------------------------------------------

def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _installed_version(python: Path) -> str | None:
    if not python.exists():
        return None
    probe = subprocess.run([str(python), "-c", f"import importlib.metadata as m; print(m.version('{PEER}'))"],
                           capture_output=True, text=True)
    return probe.stdout.strip() if probe.returncode == 0 else None


def ensure_data_designer(venv: Path = DEFAULT_VENV) -> Path:
    """The Python of a virtualenv holding data-designer==0.9.7, made and filled if it is not there yet.

    A stamp file in the venv, written once the install is checked, makes later calls instant.
    Raises `PeerUnavailable` (from bench_peer_sdk) saying why when it cannot be installed.
    """
    python = _venv_python(venv)
    if python.exists() and (venv / _STAMP).exists():
        return python
    if _installed_version(python) == PEER_VERSION:
        (venv / _STAMP).write_text(PEER_VERSION + "\n")
        return python
    started = time.perf_counter()
    print(f"[peer] installing {PEER}=={PEER_VERSION} into {venv} (once) ...", file=sys.stderr, flush=True)
    if not python.exists():
        made = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True)
        if made.returncode != 0:
            raise PeerUnavailable(f"`python -m venv {venv}` failed: {(made.stderr or made.stdout).strip()[-800:]}")
    try:
        pip = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                              f"{PEER}=={PEER_VERSION}"], capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired as error:
        raise PeerUnavailable(f"`pip install {PEER}=={PEER_VERSION}` took over 900 s") from error
    if pip.returncode != 0:
        lines = [line for line in (pip.stderr + pip.stdout).splitlines() if not line.startswith("WARNING: Location")]
        raise PeerUnavailable(f"`pip install {PEER}=={PEER_VERSION}` failed (exit {pip.returncode}): "
                              + " | ".join(lines[-6:]))
    version = _installed_version(python)
    if version != PEER_VERSION:
        raise PeerUnavailable(f"after pip install, {PEER} reports version {version!r}, not {PEER_VERSION}")
    (venv / _STAMP).write_text(PEER_VERSION + "\n")
    print(f"[peer] installed in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return python


# --- the benchmark's side ------------------------------------------------------------------------------------------

@dataclass
class DataDesignerOutcome:
    version: str
    requests: int  # rows asked for = LLM calls planned
    rows: int  # rows in the dataset it wrote
    failed: int  # rows asked for and not produced, or produced with no text
    seconds: float  # its `create` call (generation, writing parquet, its profiling); not imports, not set-up
    build_seconds: float  # the generation inside it: its DatasetBuilder.build (requests, parquet), no profiling
    request_seconds: float  # first request admitted to last one released
    max_parallel_requests: int
    concurrency: dict[str, Any] = field(default_factory=dict)  # what its admission controller did
    outside_connections: list[str] = field(default_factory=list)  # non-loopback connections refused

    @property
    def requests_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def run_data_designer(base_url: str, *, requests: int, model: str = "fake-model", timeout_s: float = 900,
                      max_parallel_requests: int = MAX_PARALLEL_REQUESTS,
                      venv: Path = DEFAULT_VENV) -> DataDesignerOutcome:
    """Make `requests` chat-completion calls with Data Designer (one per row) to `base_url`, in its venv.

    max_parallel_requests: 64 by default, because Data Designer's default (4) is below 64; its AIMD
    admission controller (always on, default tuning) starts there and never goes above it.
    Raises `PeerUnavailable` when it cannot be installed, fails, or runs over `timeout_s`.
    """
    python = ensure_data_designer(venv)
    with tempfile.TemporaryDirectory(prefix="peer-dd-") as tmp:
        result_path = Path(tmp) / "result.json"
        log_path = Path(tmp) / "peer.log"
        command = [str(python), str(Path(__file__).resolve()), "--drive", "--url", base_url, "--requests",
                   str(requests), "--model", model, "--max-parallel", str(max_parallel_requests),
                   "--workdir", tmp, "--result", str(result_path)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "NEMO_TELEMETRY_ENABLED": "false",
               "DATA_DESIGNER_HOME": str(Path(tmp) / "home"), "DATA_DESIGNER_SKIP_MODEL_HEALTH_CHECKS": "1",
               "DISABLE_DATA_DESIGNER_PLUGINS": "true", "HF_HUB_OFFLINE": "1", "DO_NOT_TRACK": "1",
               "NO_PROXY": "127.0.0.1,localhost,::1", "no_proxy": "127.0.0.1,localhost,::1"}
        env.pop("VIRTUAL_ENV", None)
        with log_path.open("w") as log:
            try:
                done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, timeout=timeout_s, env=env,
                                      cwd=tmp)
            except subprocess.TimeoutExpired as error:
                raise PeerUnavailable(f"{PEER} ran over {timeout_s:.0f} s") from error
        tail = " | ".join(log_path.read_text(errors="replace").splitlines()[-8:])
        if done.returncode != 0 or not result_path.exists():
            raise PeerUnavailable(f"{PEER} exited {done.returncode}: {tail}")
        return DataDesignerOutcome(**json.loads(result_path.read_text()))


# --- in its venv: `--drive` ----------------------------------------------------------------------------------------

def _guard_network(refused: list[str]) -> None:
    """Refuse (and note) every name lookup and connection other than loopback's (or a local socket's)."""
    import ipaddress
    import socket

    def loopback(address: Any) -> bool:
        if not isinstance(address, tuple):
            return True  # AF_UNIX
        host = str(address[0])
        try:
            return ipaddress.ip_address(host.split("%")[0]).is_loopback
        except ValueError:
            return host == "localhost"

    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and not loopback((name, port)):
            refused.append(f"{name}:{port}")
            raise socket.gaierror(socket.EAI_NONAME, f"bench: refused to resolve {name!r} (only loopback)")
        return original_getaddrinfo(host, port, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> None:
        if not loopback(address):
            refused.append(repr(address))
            raise OSError(f"bench: refused a connection to {address!r} (only loopback is allowed)")
        original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not loopback(address):
            refused.append(repr(address))
            return 111  # ECONNREFUSED
        return original_connect_ex(self, address)

    socket.getaddrinfo = getaddrinfo
    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]


def _watch_admission() -> dict[str, Any]:
    """Wrap its admission controller's lease and AIMD steps to record in-flight peaks and limit changes."""
    from data_designer.engine.models.request_admission.controller import AdaptiveRequestAdmissionController as C

    seen: dict[str, Any] = {"peak_in_flight": 0, "first_acquire": None, "last_release": None, "outcomes": {},
                            "limit_start": None, "limit_min": None, "limit_max": None, "limit_final": None,
                            "decreases": 0, "increases": 0, "limit_trace": []}
    acquire = C._acquire_locked
    apply_outcome = C._apply_outcome

    def note_limit(limit: int, at: float) -> None:
        if seen["limit_start"] is None:
            seen["limit_start"] = seen["limit_min"] = seen["limit_max"] = limit
        seen["limit_min"] = min(seen["limit_min"], limit)
        seen["limit_max"] = max(seen["limit_max"], limit)
        seen["limit_final"] = limit

    def acquire_locked(self: Any, item: Any, now: float) -> Any:
        lease = acquire(self, item, now)
        state = self._domains[item.resource]
        seen["peak_in_flight"] = max(seen["peak_in_flight"], state.in_flight)
        if seen["first_acquire"] is None:
            seen["first_acquire"] = now
        note_limit(state.current_limit, now)
        return lease

    def apply(self: Any, state: Any, resource: Any, admitted: int, outcome: Any, now: float, events: Any) -> None:
        before = state.current_limit
        apply_outcome(self, state, resource, admitted, outcome, now, events)
        seen["outcomes"][outcome.kind] = seen["outcomes"].get(outcome.kind, 0) + 1
        seen["last_release"] = now
        if state.current_limit < before:
            seen["decreases"] += 1
        elif state.current_limit > before:
            seen["increases"] += 1
        if state.current_limit != before and len(seen["limit_trace"]) < 200:
            started = seen["first_acquire"] or now
            seen["limit_trace"].append([round(now - started, 2), state.current_limit])
        note_limit(state.current_limit, now)

    C._acquire_locked = acquire_locked  # type: ignore[method-assign]
    C._apply_outcome = apply  # type: ignore[method-assign]
    return seen


def drive(args: argparse.Namespace) -> None:
    refused: list[str] = []
    _guard_network(refused)
    import importlib.metadata
    import logging

    import data_designer.config as dd
    from data_designer.interface import DataDesigner

    seen = _watch_admission()
    from data_designer.engine.dataset_builders.dataset_builder import DatasetBuilder

    build_seconds = [0.0]
    build = DatasetBuilder.build

    def timed_build(self: Any, *a: Any, **k: Any) -> Any:
        began = time.perf_counter()
        try:
            return build(self, *a, **k)
        finally:
            build_seconds[0] += time.perf_counter() - began

    DatasetBuilder.build = timed_build  # type: ignore[method-assign]
    workdir = Path(args.workdir)
    provider = dd.ModelProvider(name="bench", endpoint=args.url, provider_type="openai", api_key="not-needed")
    model = dd.ModelConfig(alias="bench", model=args.model, provider="bench", skip_health_check=True,
                           inference_parameters=dd.ChatCompletionInferenceParams(
                               max_parallel_requests=args.max_parallel))
    builder = dd.DataDesignerConfigBuilder(model_configs=[model])
    builder.add_column(dd.SamplerColumnConfig(name="item_id", sampler_type=dd.SamplerType.UUID,
                                              params=dd.UUIDSamplerParams()))
    builder.add_column(dd.LLMTextColumnConfig(name="text", model_alias="bench",
                                              prompt="Write one sentence about item {{ item_id }}."))
    designer = DataDesigner(artifact_path=workdir / "artifacts", model_providers=[provider])
    designer.set_run_config(dd.RunConfig(otel_metrics_port=None))  # no metrics endpoint; AIMD tuning left default
    logging.getLogger("data_designer").setLevel(logging.WARNING)  # its progress lines are not timed output

    started = time.perf_counter()
    results = designer.create(builder, num_records=args.requests, dataset_name="bench")
    seconds = time.perf_counter() - started

    frame = results.load_dataset()
    texts = [str(text) for text in frame["text"].tolist()] if "text" in frame.columns else []
    with_text = sum(1 for text in texts if text and text != "nan" and text != "None")
    first, last = seen.pop("first_acquire"), seen.pop("last_release")
    config = designer._request_admission.config  # the tuning in force (its defaults)
    seen["aimd"] = {"multiplicative_decrease_factor": config.multiplicative_decrease_factor,
                    "additive_increase_step": config.additive_increase_step,
                    "successes_until_increase": config.successes_until_increase,
                    "cooldown_seconds": config.cooldown_seconds, "startup_ramp_seconds": config.startup_ramp_seconds}
    result = {"version": importlib.metadata.version(PEER), "requests": args.requests, "rows": len(frame),
              "failed": args.requests - with_text, "seconds": seconds, "build_seconds": build_seconds[0],
              "request_seconds": (last - first) if first is not None and last is not None else 0.0,
              "max_parallel_requests": args.max_parallel, "concurrency": seen, "outside_connections": refused}
    Path(args.result).write_text(json.dumps(result), encoding="utf-8")


# --- self-check: bench_generation's fake server, made to read its messages, optionally capped ---------------------

def _flatten(body: bytes) -> bytes:
    """Its chat messages with each list of content parts ([{"type": "text", "text": ...}], as Data Designer sends
    them) joined into one string, as bench_generation's server (finetune_providers.testing.parse_prompt) expects."""
    request = json.loads(body)
    for message in request.get("messages", []):
        content = message.get("content")
        if isinstance(content, list):
            message["content"] = "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return json.dumps(request).encode()


def _serve(latency: float, cap: int) -> None:
    """bench_generation's fake server (its `_State` and `_ChatProtocol`, `/stats` included) reading Data Designer's
    messages; with `cap` > 0 it answers 429 (Retry-After: 1) at once to a request that finds `cap` in flight."""
    import asyncio

    from bench_generation import _ChatProtocol, _response, _State

    class Protocol(_ChatProtocol):
        def handle(self, method: str, path: str, body: bytes) -> None:
            state = self.state
            if method != "POST":
                super().handle(method, path, body)
                return
            if cap and state.in_flight >= cap:
                state.requests += 1
                state.rate_limited += 1
                self.write(_response("429 Too Many Requests", b'{"error": {"message": "Rate limit reached"}}',
                                     "Retry-After: 1\r\n"))
                return
            super().handle(method, path, _flatten(body))

    async def serve() -> None:
        state = _State(latency, 0)
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: Protocol(state), "127.0.0.1", 0, backlog=1024)
        print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


def start_server(latency: float, cap: int = 0) -> Any:
    """A `bench_generation.FakeServer` (url, stats(), reset(), stop()) for Data Designer; 429 beyond `cap` if > 0."""
    from bench_generation import FakeServer

    process = subprocess.Popen([sys.executable, __file__, "--serve", "--latency", str(latency), "--cap", str(cap)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("PORT "):
        process.kill()
        raise RuntimeError(f"the fake server did not start: {line!r}")
    return FakeServer(process, int(line.split()[1]))


def self_check(requests: int, latency: float, cap: int) -> None:
    for label, limit in (("plain", 0), (f"429 beyond {cap} in flight", cap)):
        server = start_server(latency, limit)
        try:
            outcome = run_data_designer(server.url, requests=requests)
            stats = server.stats()
        finally:
            server.stop()
        bound = MAX_PARALLEL_REQUESTS / latency
        print(json.dumps({"server": label, "latency_s": latency, "requests_per_second": outcome.requests_per_second,
                          "requests_per_second_of_requests": requests / outcome.request_seconds
                          if outcome.request_seconds else None,
                          "ratio_to_bound_64": outcome.requests_per_second / bound, "server_stats": stats,
                          "outcome": asdict(outcome)}, indent=1), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="the OpenAI-compatible base URL, e.g. http://127.0.0.1:PORT/v1")
    parser.add_argument("--requests", type=int, default=300, help="rows = LLM calls")
    parser.add_argument("--model", default="fake-model")
    parser.add_argument("--max-parallel", type=int, default=MAX_PARALLEL_REQUESTS,
                        help="its max_parallel_requests (default 4 in Data Designer; 64 here)")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--install", action="store_true", help="make its venv and print its Python")
    parser.add_argument("--self-check", action="store_true", help="run against fake servers of our own")
    parser.add_argument("--latency", type=float, default=0.2, help="the self-check's server latency")
    parser.add_argument("--cap", type=int, default=32, help="the self-check's 429 server: requests in flight")
    parser.add_argument("--drive", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        drive(args)
    elif args.serve:
        _serve(args.latency, args.cap)
    elif args.install:
        try:
            print(ensure_data_designer())
        except PeerUnavailable as error:
            sys.exit(f"{PEER} unavailable: {error}")
    elif args.self_check:
        self_check(args.requests, args.latency, args.cap)
    elif args.url:
        try:
            outcome = run_data_designer(args.url, requests=args.requests, model=args.model, timeout_s=args.timeout,
                                        max_parallel_requests=args.max_parallel)
        except PeerUnavailable as error:
            sys.exit(f"{PEER} unavailable: {error}")
        print(json.dumps({**asdict(outcome), "requests_per_second": outcome.requests_per_second}, indent=1))
    else:
        parser.print_help()


if __name__ == "__main__":
    main()
