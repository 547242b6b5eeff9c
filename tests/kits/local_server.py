"""A real HTTP server on 127.0.0.1 (HTTPS with a self-signed certificate) answering the routes a test sets."""

from __future__ import annotations

import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

Route = tuple[int, dict[str, str], bytes]


@dataclass
class LocalServer:
    """A real HTTP server on 127.0.0.1: `routes` maps a path to (status, headers, body)."""

    port: int
    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[tuple[str, str]] = field(default_factory=list)  # (path, Host header) of every request
    drip: dict[str, float] = field(default_factory=dict)  # path -> seconds between body bytes

    scheme: str = "http"

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"


@contextmanager
def serve(tls: ssl.SSLContext | None = None) -> Iterator[LocalServer]:
    """Run a LocalServer (HTTPS when given a server TLS context) on an ephemeral port."""
    state = LocalServer(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.seen.append((self.path, self.headers.get("Host", "")))
            status, headers, body = state.routes.get(self.path, (404, {}, b"not found"))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            delay = state.drip.get(self.path)
            if delay is None:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if delay is None:
                self.wfile.write(body)
                return
            try:
                for byte in body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(delay)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up, as the test expects

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    state.scheme = "https" if tls is not None else "http"
    with serving(server) as state.port:
        yield state


@contextmanager
def serving(server: ThreadingHTTPServer) -> Iterator[int]:
    """Serve `server` (bound to 127.0.0.1) on a daemon thread until the block ends; yields its port."""
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def self_signed_certificate(directory: Path, host: str) -> tuple[Path, Path]:
    """A certificate for `host` (and its key), made with the openssl command-line tool."""
    cert, key = directory / f"{host}.pem", directory / f"{host}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={host}",
         "-addext", f"subjectAltName=DNS:{host}", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key
