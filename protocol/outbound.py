"""The one HTTP client for requests made on a customer's or operator's behalf, guarded against SSRF.

Every URL a customer or operator gives us (webhook endpoints, OpenAI-compatible LLM endpoints; image
and model URLs later) goes through here. Neutral on purpose (it imports neither Django nor torch): the
control plane delivers webhooks with it (api_service/core/outbound.py adds the settings), and the gpu
worker calls LLM endpoints with it (its policy comes from gpu_worker/config.py), so both sides apply
the very same rules:

- only http and https, only on ports 80, 443 and OUTBOUND_ALLOWED_PORTS;
- the host is a name or a canonical IP literal: odd IPv4 spellings
  (`2130706433`, `0177.0.0.1`, `0x7f.1`, `127.1`) are refused, as libc would
  read them as addresses nobody meant to publish;
- the name is resolved once, every address it resolves to must be public,
  and the connection goes to the address that was checked (the name is kept
  for the Host header, SNI and certificate checks), so a second DNS answer
  cannot swap in a private one;
- redirects are never followed; the response is read up to a cap, and the
  whole request (connect, headers, body) ends at a wall-clock deadline, however
  slowly the other side drips bytes.

OUTBOUND_ALLOWED_HOSTS (`host` or `host:port`, comma-separated) lets listed
hosts through the address check, for self-hosters and for the tests' local
receivers. Every function takes the policy explicitly: no side may forget its own.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import urllib3
import urllib3.connection

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_LENGTH = 2048

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
HostPort = tuple[str, int | None]

METADATA_ADDRESSES = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
TEREDO = ipaddress.ip_network("2001::/32")


class OutboundRefused(Exception):
    """The URL may not be fetched: `reason` is a stable code, the message says why."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class OutboundFailed(Exception):
    """The request was allowed but did not produce a response (timeout, refused connection, TLS...)."""

    def __init__(self, message: str, *, error_class: str) -> None:
        super().__init__(message)
        self.error_class = error_class


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # lowercased, IPv6 without brackets
    port: int
    path: str  # path and query, never empty
    allowed_by_config: bool


@dataclass
class OutboundResponse:
    status: int
    headers: dict[str, str]
    body: bytes  # at most max_bytes
    truncated: bool
    latency_ms: int
    address: str = ""
    extra: dict[str, str] = field(default_factory=dict)


def address_refusal(address: IPAddress) -> str | None:
    """Why this address is not public (a short reason), or None when it may be connected to."""
    if address in METADATA_ADDRESSES:
        return "metadata address"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return "IPv4-mapped IPv6 address"
        if any(address in net for net in NAT64):
            return "NAT64 address"
        if address in SIX_TO_FOUR and address.sixtofour is not None:
            embedded = address_refusal(address.sixtofour)
            if embedded:
                return f"6to4 address embedding a {embedded}"
        if address in TEREDO and address.teredo is not None:
            for embedded_address in address.teredo:
                embedded = address_refusal(embedded_address)
                if embedded:
                    return f"Teredo address embedding a {embedded}"
    if address.is_loopback:
        return "loopback address"
    if address.is_unspecified:
        return "unspecified address"
    if address.is_link_local:
        return "link-local address"
    if address.is_multicast:
        return "multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in CGNAT:
        return "carrier-grade NAT address"
    if address.is_reserved:
        return "reserved address"
    if address.is_private:
        return "private address"
    if not address.is_global:
        return "reserved address"
    return None


@dataclass(frozen=True)
class OutboundPolicy:
    """What may be called: hosts let through the address check, and ports beside 80 and 443."""

    allowed_hosts: tuple[HostPort, ...] = ()  # (host, port or None), as settings parse them
    allowed_ports: tuple[int, ...] = ()

    def lets_through(self, host: str, port: int) -> bool:
        return any(host == h and (p is None or p == port) for h, p in self.allowed_hosts)


def _odd_ipv4_spelling(host: str) -> bool:
    """True for hosts that C resolvers read as IPv4 but that are not the dotted-quad form."""
    labels = host.rstrip(".").split(".")
    # WHATWG URL: a host whose last label is numeric (decimal, 0x-hex or octal) is an IPv4 address.
    last = labels[-1]
    if last.isdigit() or (last.startswith("0x") and all(c in "0123456789abcdef" for c in last[2:])):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return True
        return any(len(label) > 1 and label.startswith("0") for label in labels)
    return False


def outbound_parse(url: str, *, policy: OutboundPolicy) -> Target:
    """Check a URL's shape (scheme, host, port) without resolving it."""
    if not isinstance(url, str) or not url:
        raise OutboundRefused("The URL is empty.", reason="invalid_url")
    if len(url) > MAX_URL_LENGTH:
        raise OutboundRefused(f"The URL is longer than {MAX_URL_LENGTH} characters.", reason="invalid_url")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise OutboundRefused("The URL contains spaces or control characters.", reason="invalid_url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise OutboundRefused(f"The URL cannot be parsed: {exc}.", reason="invalid_url") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise OutboundRefused(
            f"Only http and https URLs are allowed, not {scheme or 'no'} scheme.", reason="scheme_not_allowed"
        )
    if parts.username is not None or parts.password is not None:
        raise OutboundRefused("URLs with credentials (user:password@) are not allowed.", reason="invalid_url")
    host = (parts.hostname or "").lower()
    if not host:
        raise OutboundRefused("The URL has no host.", reason="invalid_url")
    port = port or DEFAULT_PORTS[scheme]
    allowed_by_config = policy.lets_through(host, port)
    if not allowed_by_config:
        allowed_ports = {80, 443, *policy.allowed_ports}
        if port not in allowed_ports:
            raise OutboundRefused(
                f"Port {port} is not allowed; use one of {sorted(allowed_ports)}.", reason="port_not_allowed"
            )
        if _odd_ipv4_spelling(host):
            raise OutboundRefused(
                f"The host {host!r} is an unusual spelling of an IPv4 address; write it as a dotted quad.",
                reason="address_not_allowed",
            )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme=scheme, host=host, port=port, path=path, allowed_by_config=allowed_by_config)


def outbound_resolve(target: Target) -> IPAddress:
    """The one address to connect to; every address the name resolves to must be public."""
    try:
        literal = ipaddress.ip_address(target.host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise OutboundRefused(
                f"The host {target.host!r} does not resolve.", reason="unresolvable_host"
            ) from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))
        if not addresses:
            raise OutboundRefused(f"The host {target.host!r} does not resolve.", reason="unresolvable_host")
    if not target.allowed_by_config:
        for address in addresses:
            refusal = address_refusal(address)
            if refusal:
                shown = target.host if literal is not None else f"{target.host} ({address})"
                raise OutboundRefused(
                    f"{shown} is a {refusal}; only public addresses may be called.",
                    reason="address_not_allowed",
                )
    return addresses[0]


def outbound_check_url(url: str, *, policy: OutboundPolicy) -> Target:
    """What registration calls: shape and resolution, the same checks a delivery makes again."""
    target = outbound_parse(url, policy=policy)
    outbound_resolve(target)
    return target


def outbound_request(
    *,
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 15.0,
    max_bytes: int = 64 * 1024,
    policy: OutboundPolicy,
) -> OutboundResponse:
    """One guarded request: raises OutboundRefused (never sent) or OutboundFailed (no response)."""
    target = outbound_parse(url, policy=policy)
    address = outbound_resolve(target)
    host_header = target.host if ":" not in target.host else f"[{target.host}]"
    if target.port != DEFAULT_PORTS[target.scheme]:
        host_header += f":{target.port}"
    send_headers = {"Host": host_header, "User-Agent": "Crucible-Outbound/1", **(headers or {})}
    # One connection of our own, to the checked address, so the whole exchange can be cut at the deadline.
    connect_timeout = min(timeout, 10.0)
    if target.scheme == "https":
        # Connect to the checked address; verify the certificate against the name.
        conn: urllib3.connection.HTTPConnection = urllib3.connection.HTTPSConnection(
            str(address),
            target.port,
            timeout=connect_timeout,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
        )
    else:
        conn = urllib3.connection.HTTPConnection(str(address), target.port, timeout=connect_timeout)
    started = time.monotonic()
    deadline = Deadline(started + timeout, seconds=timeout)
    watchdog: threading.Timer | None = None
    try:
        conn.connect()
        # Socket timeouts bound each read, not the request: a receiver that drips a byte now and then
        # would outlive any of them. At the deadline the watchdog shuts the socket, which ends the read.
        watchdog = threading.Timer(deadline.remaining(), deadline.expire, args=(conn,))
        watchdog.daemon = True
        watchdog.start()
        deadline.bound(conn)
        conn.request(method, target.path, body=body, headers=send_headers, preload_content=False)
        deadline.bound(conn)
        response = conn.getresponse()
        chunks: list[bytes] = []
        size, truncated = 0, False
        try:
            while True:
                deadline.bound(conn)
                chunk = response.read(min(16384, max_bytes + 1 - size), decode_content=False)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > max_bytes:
                    truncated = True
                    break
        finally:
            # Never drain a huge answer: drop the connection instead.
            response.close()
        if deadline.expired:
            raise OutboundFailed(f"No complete answer within {timeout:g} s.", error_class="timeout")
        data = b"".join(chunks)[:max_bytes]
        return OutboundResponse(
            status=response.status,
            headers={k.lower(): v for k, v in response.headers.items()},
            body=data,
            truncated=truncated,
            latency_ms=int((time.monotonic() - started) * 1000),
            address=str(address),
        )
    except OutboundFailed:
        raise
    except urllib3.exceptions.NewConnectionError:  # before ConnectTimeoutError, its base class
        raise OutboundFailed("The connection was refused.", error_class="connection_refused") from None
    except (urllib3.exceptions.ConnectTimeoutError, urllib3.exceptions.ReadTimeoutError, TimeoutError):
        raise OutboundFailed(f"No answer within {timeout:g} s.", error_class="timeout") from None
    except Exception as exc:
        if deadline.expired:  # the watchdog cut the socket mid-read
            raise OutboundFailed(f"No complete answer within {timeout:g} s.", error_class="timeout") from None
        if isinstance(exc, urllib3.exceptions.SSLError | ssl.SSLError):
            raise OutboundFailed(f"TLS failed: {exc}", error_class="tls_error") from None
        if isinstance(exc, urllib3.exceptions.HTTPError | http.client.HTTPException | OSError):
            raise OutboundFailed(
                f"The connection failed: {type(exc).__name__}.", error_class="connection_error"
            ) from None
        raise
    finally:
        if watchdog is not None:
            watchdog.cancel()
        conn.close()


class Deadline:
    """The request's wall-clock end: each read may block only for what is left of it."""

    def __init__(self, at: float, *, seconds: float) -> None:
        self.at = at
        self.seconds = seconds
        self.expired = False

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def bound(self, conn: urllib3.connection.HTTPConnection) -> None:
        left = self.remaining()
        if left <= 0 or self.expired:
            self.expired = True
            raise OutboundFailed(f"No complete answer within {self.seconds:g} s.", error_class="timeout")
        if conn.sock is not None:
            conn.sock.settimeout(left)

    def expire(self, conn: urllib3.connection.HTTPConnection) -> None:
        self.expired = True
        sock = conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def hosts_parse(items: list[str], *, name: str = "OUTBOUND_ALLOWED_HOSTS") -> tuple[HostPort, ...]:
    """(host, port or None) for each `host`, `host:port`, `[v6]` or `[v6]:port` entry; a malformed one
    raises ValueError naming the entry (each side turns it into its own start-up error)."""
    parsed: list[HostPort] = []
    for item in items:
        entry = item.strip().lower()
        host, raw_port = entry, ""
        if entry.startswith("["):
            inner, closed, rest = entry[1:].partition("]")
            if not closed or (rest and not rest.startswith(":")):
                raise ValueError(f"{name}: {item!r} is not `[address]` or `[address]:port`.")
            host, raw_port = inner, rest[1:]
            if rest and not raw_port:
                raise ValueError(f"{name}: {item!r} has an empty port.")
        elif entry.count(":") == 1:
            host, raw_port = entry.split(":")
            if not raw_port:
                raise ValueError(f"{name}: {item!r} has an empty port.")
        elif ":" in entry:
            raise ValueError(f"{name}: write the IPv6 address {item!r} in brackets, as [{entry}].")
        port: int | None = None
        if raw_port:
            if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
                raise ValueError(f"{name}: {item!r} has port {raw_port!r}, not a number from 1 to 65535.")
            port = int(raw_port)
        if not host:
            raise ValueError(f"{name}: {item!r} has no host.")
        parsed.append((host, port))
    return tuple(parsed)
