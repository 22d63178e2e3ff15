"""OUTBOUND_ALLOWED_HOSTS entries (`host`, `host:port`, `[v6]`, `[v6]:port`), parsed once at startup.

The parser is protocol/outbound.py's, shared with the gpu worker; here a bad entry stops Django."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from protocol.outbound import HostPort, hosts_parse

__all__ = ["HostPort", "outbound_hosts_parse"]


def outbound_hosts_parse(items: list[str], *, name: str = "OUTBOUND_ALLOWED_HOSTS") -> tuple[HostPort, ...]:
    """(host, port or None) for each entry; a malformed one stops startup with the entry named."""
    try:
        return hosts_parse(items, name=name)
    except ValueError as exc:
        raise ImproperlyConfigured(str(exc)) from None
