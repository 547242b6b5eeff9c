"""An SSRF-safe HTTP GET: public addresses only, checked on every redirect hop, size and time capped.

DNS rebinding is closed by resolving the host once, checking every address it resolves to, and
connecting to one of those checked addresses: the URL is rewritten to the IP while the Host header
and the TLS server name (`sni_hostname`, which httpcore also uses to verify the certificate) keep
the original host name.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx

from finetune_core.errors import SourceLoadError, UrlNotAllowedError

MB = 1024 * 1024
DEFAULT_MAX_BYTES = 20 * MB
DEFAULT_TIMEOUT_S = 30.0
MAX_REDIRECTS = 5
USER_AGENT = "finetune-core/0.1"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]

_METADATA_IPS = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
_METADATA_HOSTS = {"metadata.google.internal", "metadata.goog", "metadata"}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_HOST_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_REDIRECTS = {301, 302, 303, 307, 308}


@dataclass(frozen=True)
class FetchResult:
    """What a GET brought back, after redirects."""

    url: str
    final_url: str
    status: int
    content_type: str  # the MIME type without parameters, lower-case; "" when the server sent none
    content: bytes
    charset: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def text(self) -> str:
        return self.content.decode(self.charset or "utf-8", errors="replace")


def system_resolver(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, through the operating system."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _parse_ipv4_loose(host: str) -> ipaddress.IPv4Address | None:
    """The forms inet_aton and browsers accept: `127.1`, `0x7f.1`, `2130706433`, `0177.0.0.1`."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_NUMERIC_LABEL.match(part) for part in parts):
        return None
    try:
        numbers = [int(p, 16) if p.startswith("0x") else int(p, 8) if len(p) > 1 and p[0] == "0" else int(p)
                   for p in parts]
    except ValueError:
        return None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(parts)):
        return None
    value = last
    for index, number in enumerate(head):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_refusal(ip: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why `ip` may not be fetched, or None when it is a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return "an IPv6 address with a zone"
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return address_refusal(embedded, allow_loopback=allow_loopback)
    if ip in _METADATA_IPS:
        return "the cloud metadata address"
    if ip.is_loopback:
        return None if allow_loopback else "a loopback address"
    checks = (
        (ip.is_unspecified, "the unspecified address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_reserved, "a reserved address"),
        (ip.is_private, "a private address"),
        (not ip.is_global, "a non-public address"),
    )
    return next((reason for refused, reason in checks if refused), None)


@dataclass(frozen=True)
class _Target:
    url: httpx.URL
    host: str  # ASCII (IDNA) host name without a trailing dot, or the IP literal
    port: int
    literal: IPAddress | None


def _refuse(url: str, reason: str) -> UrlNotAllowedError:
    return UrlNotAllowedError(f"URL not allowed: {reason} ({url})", url=url, reason=reason)


def _parse_target(url: str, *, allow_loopback: bool) -> _Target:
    """Every check that needs no DNS: scheme, credentials, host syntax, IP literals, known names."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise _refuse(url, f"not a valid URL: {exc}") from None
    if parsed.scheme not in ("http", "https"):
        raise _refuse(url, f"the scheme '{parsed.scheme or '(none)'}' is not http or https")
    if parsed.userinfo:
        raise _refuse(url, "URLs with credentials are not accepted")
    host = parsed.raw_host.decode("ascii").lower().rstrip(".")
    if not host:
        raise _refuse(url, "the URL has no host")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    literal = _literal_ip(host)
    if literal is not None:
        reason = address_refusal(literal, allow_loopback=allow_loopback)
        if reason:
            raise _refuse(url, f"the host is {reason}")
        return _Target(parsed, host, port, literal)
    labels = host.split(".")
    if not all(_HOST_LABEL.match(label) for label in labels):
        raise _refuse(url, f"'{host}' is not a valid host name")
    if _NUMERIC_LABEL.match(labels[-1]):
        raise _refuse(url, f"'{host}' is neither a host name nor a valid IPv4 address")
    if host in _METADATA_HOSTS:
        raise _refuse(url, "the host is the cloud metadata service")
    if (host == "localhost" or host.endswith(".localhost")) and not allow_loopback:
        raise _refuse(url, "the host is a loopback address")
    return _Target(parsed, host, port, None)


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return _parse_ipv4_loose(host)


def _resolve_checked(
    target: _Target, url: str, resolver: Resolver, *, allow_loopback: bool
) -> list[IPAddress]:
    """The addresses of the host, all of which must be public; SourceLoadError when it does not resolve."""
    if target.literal is not None:
        return [target.literal]
    try:
        found = resolver(target.host, target.port)
    except (OSError, UnicodeError) as exc:
        raise SourceLoadError(f"could not resolve the host '{target.host}': {exc}", url=url) from None
    addresses = []
    for text in found:
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            raise _refuse(url, f"the host resolved to an unparseable address '{text}'") from None
        reason = address_refusal(ip, allow_loopback=allow_loopback)
        if reason:
            raise _refuse(url, f"the host '{target.host}' resolves to {reason} ({ip})")
        addresses.append(ip)
    if not addresses:
        raise SourceLoadError(f"the host '{target.host}' has no address", url=url)
    return addresses


def check_url(url: str, allow_loopback: bool = False, *, resolver: Resolver | None = None) -> str:
    """Refuse a URL that may not be fetched, before any job starts; returns it normalised.

    A host that does not resolve is not refused here: the fetch itself will report it.
    """
    target = _parse_target(url, allow_loopback=allow_loopback)
    with contextlib.suppress(SourceLoadError):
        _resolve_checked(target, url, resolver or system_resolver, allow_loopback=allow_loopback)
    return str(target.url)


class SafeFetcher:
    """GET one public http(s) URL with caps on size, time and redirects."""

    def __init__(
        self,
        *,
        allow_loopback: bool = False,
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout: float = DEFAULT_TIMEOUT_S,
        max_redirects: int = MAX_REDIRECTS,
        transport: httpx.BaseTransport | None = None,
        resolver: Resolver | None = None,
        verify: ssl.SSLContext | bool = True,
        user_agent: str = USER_AGENT,
    ) -> None:
        """`transport` replaces the network (tests): requests then keep their host name, and DNS is
        only checked when a `resolver` is also given, since the transport decides where they go.
        `verify` is httpx's: an SSLContext with extra trusted CAs, or False (never in production)."""
        self.allow_loopback = allow_loopback
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.max_redirects = max_redirects
        self._transport = transport
        self._resolver = resolver if resolver is not None or transport is not None else system_resolver
        self._verify = verify
        self._user_agent = user_agent

    def check(self, url: str) -> None:
        """Raise UrlNotAllowedError if `url` may not be fetched (without connecting)."""
        target = _parse_target(url, allow_loopback=self.allow_loopback)
        if self._resolver is not None:
            _resolve_checked(target, url, self._resolver, allow_loopback=self.allow_loopback)

    def get(self, url: str) -> FetchResult:
        """Fetch `url`, following up to `max_redirects` redirects, each hop checked like the first."""
        deadline = time.monotonic() + self.timeout
        current = url
        # trust_env=False: a proxy from the environment would resolve names itself, past every check here.
        client = httpx.Client(transport=self._transport, verify=self._verify, trust_env=False)
        with client:
            for _ in range(self.max_redirects + 1):
                hop = self._send(client, current, deadline)
                if hop.location is None:
                    return _result(url, current, hop)
                current = str(httpx.URL(current).join(hop.location))  # httpx has validated the Location
        raise SourceLoadError(f"too many redirects (more than {self.max_redirects}) fetching {url}", url=url)

    def _send(self, client: httpx.Client, url: str, deadline: float) -> _Hop:
        target = _parse_target(url, allow_loopback=self.allow_loopback)
        if self._resolver is None:
            wires = [_Wire(target.url)]
        else:
            addresses = _resolve_checked(target, url, self._resolver, allow_loopback=self.allow_loopback)
            if self._transport is not None:
                wires = [_Wire(target.url)]
            else:
                sni = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
                host = target.url.netloc.decode("ascii")
                wires = [_Wire(target.url.copy_with(host=str(ip)), sni, host) for ip in addresses]
        error = SourceLoadError(f"could not connect to {url}", url=url)
        for wire in wires:
            try:
                return self._request(client, url, wire, deadline)
            except _ConnectFailed as exc:
                error = exc.error
        raise error

    def _request(self, client: httpx.Client, url: str, wire: _Wire, deadline: float) -> _Hop:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SourceLoadError(f"timed out after {self.timeout:g} s fetching {url}", url=url)
        headers = {"User-Agent": self._user_agent, "Accept": "*/*"}
        if wire.host_header is not None:
            headers["Host"] = wire.host_header
        try:
            with client.stream("GET", wire.url, headers=headers, extensions=wire.extensions,
                               timeout=httpx.Timeout(remaining)) as response:
                if response.status_code in _REDIRECTS and "location" in response.headers:
                    return _Hop(response.status_code, response.headers, response.headers["location"])
                if response.status_code >= 400:
                    raise SourceLoadError(
                        f"the server answered HTTP {response.status_code} {response.reason_phrase} for {url}",
                        url=url, status=response.status_code,
                    )
                return _Hop(response.status_code, response.headers, None, self._read(response, url, deadline))
        except httpx.TimeoutException:
            raise SourceLoadError(f"timed out after {self.timeout:g} s fetching {url}", url=url) from None
        except httpx.ConnectError as exc:
            raise _ConnectFailed(SourceLoadError(f"could not connect to {url}: {exc}", url=url)) from None
        except httpx.HTTPError as exc:
            raise SourceLoadError(f"could not fetch {url}: {exc}", url=url) from None

    def _read(self, response: httpx.Response, url: str, deadline: float) -> bytes:
        limit = f"{self.max_bytes / MB:g} MB" if self.max_bytes >= MB else f"{self.max_bytes} bytes"
        too_large = SourceLoadError(f"the response from {url} is larger than {limit}", url=url,
                                    max_bytes=self.max_bytes)
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise too_large
        body = bytearray()
        for chunk in response.iter_bytes():
            body.extend(chunk)
            if len(body) > self.max_bytes:
                raise too_large
            if time.monotonic() > deadline:
                raise SourceLoadError(f"timed out after {self.timeout:g} s fetching {url}", url=url)
        return bytes(body)


class _ConnectFailed(Exception):
    """A connection to one resolved address failed; the next address may still work."""

    def __init__(self, error: SourceLoadError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(frozen=True)
class _Wire:
    """Where one attempt really goes: the URL on the wire, TLS name and Host header when pinned to an IP."""

    url: httpx.URL
    extensions: dict[str, str] = field(default_factory=dict)
    host_header: str | None = None


@dataclass(frozen=True)
class _Hop:
    status: int
    headers: httpx.Headers
    location: str | None
    content: bytes = b""


def _result(url: str, final_url: str, hop: _Hop) -> FetchResult:
    mime, _, params = hop.headers.get("content-type", "").partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip("\"'").lower()
    return FetchResult(url=url, final_url=final_url, status=hop.status, content_type=mime.strip().lower(),
                       content=hop.content, charset=charset, headers=dict(hop.headers.items()))
