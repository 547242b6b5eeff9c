"""SafeFetcher and check_url: only public http(s) addresses, on every hop, within size and time caps."""

from __future__ import annotations

import shutil
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import httpx
import pytest
from finetune_core.errors import SourceLoadError, UrlNotAllowedError
from finetune_core.sources.fetch import SafeFetcher, check_url
from kits.local_server import LocalServer, self_signed_certificate, serve

PUBLIC_IP = "93.184.216.34"


def resolver(table: dict[str, Sequence[str]]) -> Callable[[str, int], Sequence[str]]:
    def resolve(host: str, port: int) -> Sequence[str]:
        if host not in table:
            raise OSError(f"unknown host {host}")
        return table[host]

    return resolve


class Recorder:
    """A MockTransport handler that answers from a table and remembers every URL it was asked for."""

    def __init__(self, routes: dict[str, httpx.Response]) -> None:
        self.routes = routes
        self.requested: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requested.append(str(request.url))
        return self.routes.get(str(request.url), httpx.Response(404))


def redirect(location: str, status: int = 302) -> httpx.Response:
    return httpx.Response(status, headers={"Location": location})


REFUSED = [
    ("file:///etc/passwd", "scheme"),
    ("ftp://example.org/file", "scheme"),
    ("gopher://example.org/", "scheme"),
    ("javascript:alert(1)", "scheme"),
    ("http://127.0.0.1/", "loopback"),
    ("http://127.255.255.254:8080/", "loopback"),
    ("http://localhost/", "loopback"),
    ("http://api.localhost/", "loopback"),
    ("http://[::1]/", "loopback"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://[::]/", "unspecified"),
    ("http://10.0.0.1/", "private"),
    ("http://172.16.5.4/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://[fc00::1]/", "private"),
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://[fd00:ec2::254]/latest/meta-data/", "metadata"),
    ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
    ("http://169.254.1.1/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://224.0.0.1/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://100.64.0.1/", "non-public"),
    ("http://2130706433/", "loopback"),
    ("http://0x7f.1/", "loopback"),
    ("http://0x7f000001/", "loopback"),
    ("http://017700000001/", "loopback"),
    ("http://0177.0.0.1/", "IPv4"),  # httpx itself rejects this form as an invalid URL
    ("http://127.1/", "loopback"),
    ("http://10.1/", "private"),
    ("http://[::ffff:127.0.0.1]/", "loopback"),
    ("http://[::ffff:7f00:1]/", "loopback"),
    ("http://[::ffff:169.254.169.254]/", "metadata"),
    ("http://[2002:7f00:1::]/", "loopback"),  # 6to4 around 127.0.0.1
    ("http://[64:ff9b::a00:1]/", "private"),  # NAT64 around 10.0.0.1
    ("http://999.1.1.1/", "IPv4"),
    ("http://user:secret@example.org/", "credentials"),
    ("http:///nohost", "host"),
    ("not a url", "scheme"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_check_url_refuses_with_a_reason(url: str, reason: str) -> None:
    with pytest.raises(UrlNotAllowedError, match=reason) as caught:
        check_url(url, resolver=resolver({}))
    assert caught.value.error_code == "URL_NOT_ALLOWED"


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_fetcher_refuses_before_any_connection(url: str, reason: str) -> None:
    recorder = Recorder({})
    fetcher = SafeFetcher(transport=httpx.MockTransport(recorder), resolver=resolver({}))
    with pytest.raises(UrlNotAllowedError, match=reason):
        fetcher.get(url)
    assert recorder.requested == []


def test_check_url_accepts_public_addresses() -> None:
    assert check_url(f"https://{PUBLIC_IP}/page") == f"https://{PUBLIC_IP}/page"
    assert check_url("https://[2606:4700::1111]/") == "https://[2606:4700::1111]/"
    assert check_url("https://docs.example.org/a?b=c", resolver=resolver({"docs.example.org": [PUBLIC_IP]}))


def test_every_resolved_address_must_be_public() -> None:
    mixed = resolver({"rebind.example": [PUBLIC_IP, "10.0.0.7"]})
    with pytest.raises(UrlNotAllowedError, match=r"resolves to a private address \(10\.0\.0\.7\)"):
        check_url("http://rebind.example/", resolver=mixed)
    with pytest.raises(UrlNotAllowedError, match="metadata"):
        check_url("http://sneaky.example/", resolver=resolver({"sneaky.example": ["169.254.169.254"]}))


def test_check_url_leaves_unresolvable_hosts_to_the_fetch() -> None:
    assert check_url("https://unknown.example/", resolver=resolver({})) == "https://unknown.example/"
    with pytest.raises(SourceLoadError, match="could not resolve"):
        SafeFetcher(transport=httpx.MockTransport(Recorder({})), resolver=resolver({})).get("https://unknown.example/")


def test_allow_loopback_allows_only_loopback() -> None:
    check_url("http://127.0.0.1:8000/", allow_loopback=True)
    check_url("http://localhost:8000/", allow_loopback=True, resolver=resolver({"localhost": ["127.0.0.1"]}))
    check_url("http://[::1]/", allow_loopback=True)
    for url in ("http://10.0.0.1/", "http://169.254.169.254/", "http://0.0.0.0/", "http://192.168.0.1/"):
        with pytest.raises(UrlNotAllowedError):
            check_url(url, allow_loopback=True)


# --- redirects, with an httpx.MockTransport standing in for the internet -------------------------


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1/admin",
        "http://localhost:8080/",
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://2130706433/",
        "http://10.0.0.5/internal",
        "file:///etc/passwd",
    ],
)
def test_redirect_to_a_refused_address_is_refused_before_following(target: str) -> None:
    recorder = Recorder({"https://public.example/start": redirect(target)})
    fetcher = SafeFetcher(transport=httpx.MockTransport(recorder))
    with pytest.raises(UrlNotAllowedError):
        fetcher.get("https://public.example/start")
    assert recorder.requested == ["https://public.example/start"]


def test_redirect_to_an_invalid_url_is_refused() -> None:
    # httpx itself rejects this Location header while reading the response
    recorder = Recorder({"https://public.example/": redirect("http://[::1/broken")})
    with pytest.raises(SourceLoadError, match="Invalid URL in location header"):
        SafeFetcher(transport=httpx.MockTransport(recorder)).get("https://public.example/")
    assert recorder.requested == ["https://public.example/"]


def test_redirect_to_a_host_resolving_privately_is_refused() -> None:
    recorder = Recorder({"https://public.example/": redirect("https://intranet.example/wiki")})
    fetcher = SafeFetcher(
        transport=httpx.MockTransport(recorder),
        resolver=resolver({"public.example": [PUBLIC_IP], "intranet.example": ["192.168.10.20"]}),
    )
    with pytest.raises(UrlNotAllowedError, match=r"intranet\.example"):
        fetcher.get("https://public.example/")
    assert recorder.requested == ["https://public.example/"]


def test_redirects_are_followed_relative_and_absolute() -> None:
    recorder = Recorder({
        "https://public.example/a": redirect("/b", 301),
        "https://public.example/b": redirect("https://other.example/c?x=1", 307),
        "https://other.example/c?x=1": httpx.Response(
            200, headers={"Content-Type": "text/html; charset=ISO-8859-1"}, content=b"<p>done</p>"
        ),
    })
    result = SafeFetcher(transport=httpx.MockTransport(recorder)).get("https://public.example/a")
    assert result.final_url == "https://other.example/c?x=1"
    assert result.url == "https://public.example/a"
    assert (result.status, result.content_type, result.charset) == (200, "text/html", "iso-8859-1")
    assert result.content == b"<p>done</p>"
    assert len(recorder.requested) == 3


def test_at_most_five_redirects() -> None:
    def chain(length: int) -> dict[str, httpx.Response]:
        routes = {f"https://public.example/{i}": redirect(f"/{i + 1}") for i in range(length)}
        routes[f"https://public.example/{length}"] = httpx.Response(200, content=b"end")
        return routes

    five = SafeFetcher(transport=httpx.MockTransport(Recorder(chain(5))))
    assert five.get("https://public.example/0").content == b"end"
    with pytest.raises(SourceLoadError, match="too many redirects"):
        SafeFetcher(transport=httpx.MockTransport(Recorder(chain(6)))).get("https://public.example/0")


def test_http_errors_and_timeouts_become_source_load_errors() -> None:
    recorder = Recorder({"https://public.example/gone": httpx.Response(404)})
    fetcher = SafeFetcher(transport=httpx.MockTransport(recorder))
    with pytest.raises(SourceLoadError, match="HTTP 404"):
        fetcher.get("https://public.example/gone")

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("read timed out", request=request)

    with pytest.raises(SourceLoadError, match="timed out"):
        SafeFetcher(transport=httpx.MockTransport(slow), timeout=2).get("https://public.example/")

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(SourceLoadError, match="could not connect"):
        SafeFetcher(transport=httpx.MockTransport(refused)).get("https://public.example/")


# --- size cap --------------------------------------------------------------------------------------


def test_body_is_streamed_and_cut_at_the_size_cap() -> None:
    produced: list[int] = []

    def endless() -> Iterator[bytes]:
        while True:
            produced.append(1)
            yield b"x" * 1024

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=endless())

    with pytest.raises(SourceLoadError, match="larger than"):
        SafeFetcher(transport=httpx.MockTransport(handler), max_bytes=10_000).get("https://public.example/big")
    assert len(produced) <= 11  # it stopped reading right after the cap


def test_declared_length_over_the_cap_is_refused_without_reading() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": "50000000"}, content=iter([b"x"]))

    with pytest.raises(SourceLoadError, match="larger than"):
        SafeFetcher(transport=httpx.MockTransport(handler), max_bytes=1000).get("https://public.example/big")


def test_body_at_the_cap_is_accepted() -> None:
    recorder = Recorder({"https://public.example/": httpx.Response(200, content=b"y" * 1000)})
    result = SafeFetcher(transport=httpx.MockTransport(recorder), max_bytes=1000).get("https://public.example/")
    assert len(result.content) == 1000


# --- the real network path, against a server on 127.0.0.1 ------------------------------------------


def test_real_fetch_from_a_local_server(local_server: LocalServer) -> None:
    local_server.routes["/page.html"] = (200, {"Content-Type": "text/html; charset=utf-8"}, b"<h1>Hi</h1>")
    result = SafeFetcher(allow_loopback=True).get(local_server.url("/page.html"))
    assert result.content == b"<h1>Hi</h1>"
    assert result.content_type == "text/html"
    assert result.final_url == local_server.url("/page.html")


def test_loopback_is_refused_by_default_without_connecting(local_server: LocalServer) -> None:
    local_server.routes["/"] = (200, {}, b"secret")
    with pytest.raises(UrlNotAllowedError, match="loopback"):
        SafeFetcher().get(local_server.url("/"))
    with pytest.raises(UrlNotAllowedError, match="loopback"):
        SafeFetcher().get(local_server.url("/", host="localhost"))
    assert local_server.seen == []


def test_connection_goes_to_the_checked_address_with_the_original_host(local_server: LocalServer) -> None:
    # "app.test" exists only in this resolver: had httpx resolved the name again, it would have failed.
    local_server.routes["/"] = (200, {"Content-Type": "text/plain"}, b"pinned")
    fetcher = SafeFetcher(allow_loopback=True, resolver=resolver({"app.test": ["127.0.0.1"]}))
    result = fetcher.get(local_server.url("/", host="app.test"))
    assert result.content == b"pinned"
    assert local_server.seen == [("/", f"app.test:{local_server.port}")]
    assert result.final_url == local_server.url("/", host="app.test")


def test_next_address_is_tried_when_one_refuses_the_connection(local_server: LocalServer) -> None:
    local_server.routes["/"] = (200, {}, b"second address")
    fetcher = SafeFetcher(allow_loopback=True, resolver=resolver({"app.test": ["127.0.0.2", "127.0.0.1"]}))
    assert fetcher.get(local_server.url("/", host="app.test")).content == b"second address"


def test_real_redirect_to_a_private_address_is_refused(local_server: LocalServer) -> None:
    local_server.routes["/go"] = (302, {"Location": "http://10.0.0.1/admin"}, b"")
    local_server.routes["/local"] = (302, {"Location": "/final"}, b"")
    local_server.routes["/final"] = (200, {}, b"arrived")
    fetcher = SafeFetcher(allow_loopback=True)
    with pytest.raises(UrlNotAllowedError, match="private"):
        fetcher.get(local_server.url("/go"))
    assert fetcher.get(local_server.url("/local")).content == b"arrived"


def test_real_size_cap(local_server: LocalServer) -> None:
    local_server.routes["/big"] = (200, {}, b"z" * 50_000)
    with pytest.raises(SourceLoadError, match="larger than"):
        SafeFetcher(allow_loopback=True, max_bytes=10_000).get(local_server.url("/big"))


def test_total_timeout_stops_a_slow_drip(local_server: LocalServer) -> None:
    # Each byte arrives well within a read timeout; only a deadline over the whole fetch stops this, long before
    # the 100 s the whole body takes (the bound leaves a busy machine plenty of room)
    local_server.routes["/slow"] = (200, {}, b"a" * 2000)
    local_server.drip["/slow"] = 0.05
    started = time.monotonic()
    with pytest.raises(SourceLoadError, match="timed out"):
        SafeFetcher(allow_loopback=True, timeout=1.0).get(local_server.url("/slow"))
    assert time.monotonic() - started < 60.0


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_https_to_a_pinned_address_verifies_the_host_name(tmp_path: Path) -> None:
    # The connection goes to 127.0.0.1, yet TLS must present and verify the name "app.test".
    cert, key = self_signed_certificate(tmp_path, "app.test")
    other_cert, _ = self_signed_certificate(tmp_path, "other.test")
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    names = resolver({"app.test": ["127.0.0.1"], "impostor.test": ["127.0.0.1"]})
    with serve(tls=server_tls) as server:
        server.routes["/"] = (200, {"Content-Type": "text/plain"}, b"over tls")
        url = server.url("/", host="app.test")
        trusting = SafeFetcher(allow_loopback=True, resolver=names,
                               verify=ssl.create_default_context(cafile=cert))
        assert trusting.get(url).content == b"over tls"
        assert server.seen == [("/", f"app.test:{server.port}")]
        with pytest.raises(SourceLoadError, match="Hostname mismatch"):
            trusting.get(server.url("/", host="impostor.test"))
        wrong_ca = SafeFetcher(allow_loopback=True, resolver=names,
                               verify=ssl.create_default_context(cafile=other_cert))
        with pytest.raises(SourceLoadError, match="CERTIFICATE_VERIFY_FAILED"):
            wrong_ca.get(url)
