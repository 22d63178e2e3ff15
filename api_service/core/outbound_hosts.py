"""OUTBOUND_ALLOWED_HOSTS entries (`host`, `host:port`, `[v6]`, `[v6]:port`), parsed once at startup."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

HostPort = tuple[str, int | None]


def outbound_hosts_parse(items: list[str], *, name: str = "OUTBOUND_ALLOWED_HOSTS") -> tuple[HostPort, ...]:
    """(host, port or None) for each entry; a malformed one stops startup with the entry named."""
    parsed: list[HostPort] = []
    for item in items:
        entry = item.strip().lower()
        host, raw_port = entry, ""
        if entry.startswith("["):
            inner, closed, rest = entry[1:].partition("]")
            if not closed or (rest and not rest.startswith(":")):
                raise ImproperlyConfigured(f"{name}: {item!r} is not `[address]` or `[address]:port`.")
            host, raw_port = inner, rest[1:]
            if rest and not raw_port:
                raise ImproperlyConfigured(f"{name}: {item!r} has an empty port.")
        elif entry.count(":") == 1:
            host, raw_port = entry.split(":")
            if not raw_port:
                raise ImproperlyConfigured(f"{name}: {item!r} has an empty port.")
        elif ":" in entry:
            raise ImproperlyConfigured(f"{name}: write the IPv6 address {item!r} in brackets, as [{entry}].")
        port: int | None = None
        if raw_port:
            if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
                raise ImproperlyConfigured(
                    f"{name}: {item!r} has port {raw_port!r}, not a number from 1 to 65535."
                )
            port = int(raw_port)
        if not host:
            raise ImproperlyConfigured(f"{name}: {item!r} has no host.")
        parsed.append((host, port))
    return tuple(parsed)
