"""The SSRF-guarded HTTP client as the control plane uses it: protocol/outbound.py's rules, with the
policy (OUTBOUND_ALLOWED_HOSTS, OUTBOUND_ALLOWED_PORTS) from Django's settings by default."""

from __future__ import annotations

from django.conf import settings

from protocol.outbound import (
    OutboundFailed,
    OutboundPolicy,
    OutboundRefused,
    OutboundResponse,
    Target,
    address_refusal,
    outbound_resolve,
)
from protocol.outbound import outbound_check_url as _check_url
from protocol.outbound import outbound_parse as _parse
from protocol.outbound import outbound_request as _request

__all__ = [
    "OutboundFailed",
    "OutboundPolicy",
    "OutboundRefused",
    "OutboundResponse",
    "Target",
    "address_refusal",
    "outbound_check_url",
    "outbound_parse",
    "outbound_policy",
    "outbound_request",
    "outbound_resolve",
]


def outbound_policy() -> OutboundPolicy:
    return OutboundPolicy(
        allowed_hosts=tuple(settings.OUTBOUND_ALLOWED_HOSTS),
        allowed_ports=tuple(settings.OUTBOUND_ALLOWED_PORTS),
    )


def outbound_parse(url: str, *, policy: OutboundPolicy | None = None) -> Target:
    return _parse(url, policy=policy or outbound_policy())


def outbound_check_url(url: str, *, policy: OutboundPolicy | None = None) -> Target:
    return _check_url(url, policy=policy or outbound_policy())


def outbound_request(
    *,
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 15.0,
    max_bytes: int = 64 * 1024,
    policy: OutboundPolicy | None = None,
) -> OutboundResponse:
    return _request(
        method=method,
        url=url,
        headers=headers,
        body=body,
        timeout=timeout,
        max_bytes=max_bytes,
        policy=policy or outbound_policy(),
    )
