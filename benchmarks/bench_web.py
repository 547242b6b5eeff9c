"""REST API benchmarks on loopback, against a live `finetune serve` (gunicorn), printed from one run.

1. GET /api/projects/{id}/dataset/examples on a project of N examples (100,000 by default) at C
   connections (32): requests/s, p50 and p99 latency, pages drawn at random offsets over the whole
   dataset (limit 50), every answer checked (200, 50 items, the right total);
2. peak memory of the server while it streams the project's export (GET /api/datasets/{id}/export),
   for 10,000 and N examples: the RSS of the worker process serving it, sampled every 10 ms,
   and its growth over its RSS before the stream (target: flat, under 300 MB);
3. the common reads at C connections, on one gevent worker as `finetune serve` starts by default:
   GET /api/projects (10 projects) beside bare Flask + SQLAlchemy's page of ten rows on the same server
   (flask_floor.py: the floor, as a ratio); then GET /api/projects, /api/projects/{id} and /api/auth/me in
   turn, alone and beside 500 open event streams, and how long the worker takes to close the streams'
   sockets once their clients hang up.

The load generator is an asyncio aiohttp client in this process, on the same machine as the server:
on a small machine the two share the cores, so the figures are a floor.

    python benchmarks/bench_web.py [--examples 100000] [--connections 32] [--seconds 15] [--workers 2]
                                   [--streams 500]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from bench_core import fill_project

PASSWORD = "a long enough password"
PAGE = 50
FINETUNE = Path(sys.executable).parent / "finetune"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """`finetune serve` in its own process group, its log in the workspace's folder."""

    def __init__(self, root: Path, workers: int, threads: int, *extra: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "FINETUNE_RATE_LIMITS": "off"}
        for name in ("REDIS_URL", "FINETUNE_REDIS_URL", "FINETUNE_DATABASE_URL"):
            env.pop(name, None)
        self.log = (root.parent / f"serve-{self.port}.log").open("wb")
        command = [str(FINETUNE), "--workspace", str(root), "serve", "--port", str(self.port), "--workers",
                   str(workers), "--threads", str(threads), *extra]
        self.process = subprocess.Popen(
            command, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 90
        while True:
            if self.process.poll() is not None:
                raise SystemExit(f"finetune serve exited: see {self.log.name}")
            try:
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("finetune serve did not answer /health within 90 s")
            time.sleep(0.3)

    def worker_pids(self) -> list[int]:
        """gunicorn's worker processes (the children of its arbiter)."""
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                pids.append(int(stat.parent.name))
        return pids

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.log.close()


def rss_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


class PeakRss:
    """Samples the RSS of some processes every 10 ms in a thread, from creation to `stop()`."""

    def __init__(self, pids: list[int]) -> None:
        self.before = {pid: rss_mb(pid) for pid in pids}
        self.peak = dict(self.before)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.is_set():
            for pid in self.peak:
                self.peak[pid] = max(self.peak[pid], rss_mb(pid))
            time.sleep(0.01)

    def stop(self) -> dict[int, float]:
        """The peak RSS (MB) of each process."""
        self._done.set()
        self._thread.join()
        return self.peak


def account(base: str) -> dict[str, str]:
    with httpx.Client(base_url=base, timeout=30) as http:
        http.post("/api/auth/register", json={"email": "bench@example.com", "password": PASSWORD}).raise_for_status()
        tokens = http.post("/api/auth/login", data={"username": "bench@example.com", "password": PASSWORD}).json()
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def new_project(base: str, headers: dict[str, str], name: str) -> str:
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        created = http.post("/api/projects", json={"name": name})
        created.raise_for_status()
        return str(created.json()["id"])


async def load(base: str, headers: dict[str, str], project_id: str, count: int, connections: int,
               seconds: float) -> tuple[list[float], int]:
    """`connections` clients asking pages at random offsets for `seconds`; (latencies in s, errors)."""
    import aiohttp

    latencies: list[float] = []
    errors = 0
    url = f"{base}/api/projects/{project_id}/dataset/examples"
    deadline = time.perf_counter() + seconds

    async def client(session: aiohttp.ClientSession, rng: random.Random) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            offset = rng.randrange(0, count - PAGE)
            start = time.perf_counter()
            async with session.get(url, params={"limit": PAGE, "offset": offset}) as response:
                body = await response.json()
            latencies.append(time.perf_counter() - start)
            if response.status != 200 or len(body["items"]) != PAGE or body["total"] != count:
                errors += 1

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(base_url=None, headers=headers, connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=60)) as session:
        await asyncio.gather(*(client(session, random.Random(seed)) for seed in range(connections)))
    return latencies, errors


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def bench_examples(server: Server, headers: dict[str, str], project_id: str, count: int, connections: int,
                   seconds: float) -> None:
    asyncio.run(load(server.base, headers, project_id, count, connections, 2.0))  # warm-up: caches, connections
    latencies, errors = asyncio.run(load(server.base, headers, project_id, count, connections, seconds))
    print(f"[examples] GET …/dataset/examples (limit {PAGE}, random offsets) on {count:,} examples, "
          f"{connections} connections, {seconds:.0f} s")
    print(f"  {len(latencies) / seconds:8.1f} requests/s   p50 {1000 * statistics.median(latencies):6.1f} ms   "
          f"p99 {1000 * percentile(latencies, 0.99):6.1f} ms   {errors} wrong answers of {len(latencies)}")


def bench_export_memory(server: Server, headers: dict[str, str], projects: dict[int, str]) -> None:
    print("[export] GET /api/datasets/{id}/export (openai JSONL), RSS of the serving gunicorn worker")
    for count, project_id in projects.items():
        sampler = PeakRss(server.worker_pids())
        lines = size = 0
        start = time.perf_counter()
        with httpx.stream("GET", f"{server.base}/api/datasets/{project_id}/export", headers=headers,
                          timeout=httpx.Timeout(30, read=300)) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                lines += 1
                size += len(line) + 1
        elapsed = time.perf_counter() - start
        before, peak = sampler.before, sampler.stop()
        pid = max(peak, key=lambda worker: peak[worker] - before[worker])  # the worker that streamed it
        assert lines == count, f"the export held {lines} lines for {count} examples"
        print(f"  {count:>9,} examples: worker peak {peak[pid]:6.1f} MB (+{peak[pid] - before[pid]:5.1f} MB over "
              f"{before[pid]:.1f} MB before), {count / elapsed:8.0f} examples/s, {size / 1e6:6.1f} MB sent")


READS = ("/api/projects", "/api/projects/{project_id}", "/api/auth/me")


async def read_load(base: str, headers: dict[str, str], project_id: str, connections: int,
                    seconds: float, reads: list[str] | None = None) -> tuple[list[float], int]:
    """`connections` clients cycling through `reads` (READS) for `seconds`; (latencies in s, errors)."""
    import aiohttp

    latencies: list[float] = []
    errors = 0
    paths = [path.format(project_id=project_id) for path in reads or READS]
    deadline = time.perf_counter() + seconds

    async def client(session: aiohttp.ClientSession, first: int) -> None:
        nonlocal errors
        turn = first
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            async with session.get(f"{base}{paths[turn % len(paths)]}") as response:
                await response.read()
            latencies.append(time.perf_counter() - start)
            errors += response.status != 200
            turn += 1

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(headers=headers, connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=60)) as session:
        await asyncio.gather(*(client(session, first) for first in range(connections)))
    return latencies, errors


async def floor_load(connections: int, seconds: float) -> tuple[list[float], int]:
    """The same load on flask_floor.py (bare Flask + SQLAlchemy, a page of ten rows) on a gevent worker."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "FLOOR_DB": str(Path(tmp) / "floor.db")}
        command = [str(Path(sys.executable).parent / "gunicorn"), "-k", "gevent", "-w", "1", "-b", f"127.0.0.1:{port}",
                   "--chdir", str(Path(__file__).parent), "flask_floor:app"]
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/api/projects", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit("the Flask floor did not start")
                await asyncio.sleep(0.2)
            await read_load(base, {}, "", connections, 2.0, ["/api/projects"])  # warm-up
            return await read_load(base, {}, "", connections, seconds, ["/api/projects"])
        finally:
            process.terminate()
            process.wait(30)


async def open_stream(port: int, path: str, token: str) -> asyncio.StreamWriter:
    """An event stream held open by a raw client, once the server has said it is live."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    seen = b""
    while b": stream open" not in seen:
        data = await asyncio.wait_for(reader.read(4096), 120)
        if not data:
            raise SystemExit(f"a stream closed at once: {seen[:300]!r}")
        seen += data
    return writer


def open_sockets(pid: int) -> int:
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(fd).startswith("socket:")
        except OSError:
            continue
    return count


def running_job(root: Path, project_id: str) -> str:
    """A job recorded as running in the server's database, as a worker leaves it between events."""
    from finetune_core import Workspace
    from finetune_core.domain import utcnow
    from finetune_core.services import jobs

    with Workspace.open(root) as workspace, workspace.unit_of_work() as uow:
        job = jobs.new_job("fine_tune", project_id=project_id)
        uow.jobs.add(job)
        uow.jobs.claim(job.id, stale_before=utcnow())
        return job.id


def bench_reads_beside_streams(root: Path, connections: int, seconds: float, streams: int) -> None:
    server = Server(root, 1, 8)  # as `finetune serve` starts: one gevent worker
    try:
        headers = account(server.base)
        project_ids = [new_project(server.base, headers, f"dashboard {number}") for number in range(10)]
        job_id = running_job(root, project_ids[0])
        [worker] = server.worker_pids()
        token = headers["Authorization"].removeprefix("Bearer ")
        print(f"[reads] {connections} connections, {seconds:.0f} s each, one gevent worker")

        async def measure(label: str) -> None:
            latencies, errors = await read_load(server.base, headers, project_ids[0], connections, seconds)
            p50, p99 = 1000 * statistics.median(latencies), 1000 * percentile(latencies, 0.99)
            print(f"  {label:<24} {len(latencies) / seconds:8.1f} requests/s   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms"
                  f"   {errors} errors of {len(latencies)}")

        async def scenario() -> None:
            await read_load(server.base, headers, project_ids[0], connections, 2.0)  # warm-up
            ours = await read_load(server.base, headers, project_ids[0], connections, seconds, ["/api/projects"])
            floor = await floor_load(connections, seconds)
            for label, (latencies, errors) in (("GET /api/projects", ours), ("the floor (bare Flask)", floor)):
                p50, p99 = 1000 * statistics.median(latencies), 1000 * percentile(latencies, 0.99)
                print(f"  {label:<24} {len(latencies) / seconds:8.1f} requests/s   p50 {p50:6.1f} ms   "
                      f"p99 {p99:6.1f} ms   {errors} errors of {len(latencies)}")
            print(f"  GET /api/projects (10 projects with their stats, signed in) serves "
                  f"{len(ours[0]) / len(floor[0]):.2f}x the requests/s of bare Flask + SQLAlchemy's page of 10 rows")
            print(f"  {', '.join(READS)} in turn:")
            await measure("alone")
            baseline = open_sockets(worker)
            paths = [f"/api/jobs/{job_id}/events/stream", f"/api/projects/{project_ids[1]}/train/logs/stream"]
            writers = await asyncio.gather(*(open_stream(server.port, paths[n % 2], token) for n in range(streams)))
            await measure(f"beside {streams} streams")
            for writer in writers:
                writer.transport.abort()
            start = time.perf_counter()
            while open_sockets(worker) > baseline + 2 and time.perf_counter() - start < 60:
                await asyncio.sleep(0.01)
            print(f"  {streams} clients hung up: the worker's sockets back to {open_sockets(worker)} "
                  f"(before: {baseline}) in {time.perf_counter() - start:.2f} s")

        asyncio.run(scenario())
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000, help="the smaller export of the memory comparison")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn process")
    parser.add_argument("--streams", type=int, default=500, help="event streams open beside the reads")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        server = Server(root, args.workers, args.threads)
        try:
            headers = account(server.base)
            projects = {count: new_project(server.base, headers, f"bench {count}")
                        for count in (args.small, args.examples)}
            start = time.perf_counter()
            for count, project_id in projects.items():
                fill_project(root, project_id, count, eval_every=10)
            print(f"[setup] gunicorn {args.workers} gevent workers, SQLite; "
                  f"{args.small + args.examples:,} examples stored in {time.perf_counter() - start:.0f} s")
            bench_examples(server, headers, projects[args.examples], args.examples, args.connections, args.seconds)
            bench_export_memory(server, headers, projects)
        finally:
            server.stop()
    with tempfile.TemporaryDirectory() as tmp:
        bench_reads_beside_streams(Path(tmp) / "ws", args.connections, args.seconds, args.streams)


if __name__ == "__main__":
    main()
