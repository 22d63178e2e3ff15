"""The SSRF guard: which URLs and addresses are refused, and what a guarded request does on the wire."""

from __future__ import annotations

import ipaddress

import pytest

from api_service.core.outbound import (
    OutboundFailed,
    OutboundPolicy,
    OutboundRefused,
    address_refusal,
    outbound_check_url,
    outbound_parse,
    outbound_request,
)
from api_service.core.outbound_hosts import outbound_hosts_parse
from tests.support.receiver import Answer, receiver

NOBODY = OutboundPolicy()
LOCAL = OutboundPolicy(allowed_hosts=outbound_hosts_parse(["127.0.0.1"]))

REFUSED_ADDRESSES = [
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("::1", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("fc00::1", "private"),
    ("169.254.1.1", "link-local"),
    ("fe80::1", "link-local"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.254", "carrier-grade NAT"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("192.0.2.1", "address"),  # documentation range: not global
    ("169.254.169.254", "metadata"),
    ("fd00:ec2::254", "metadata"),
    ("::ffff:127.0.0.1", "IPv4-mapped"),
    ("::ffff:8.8.8.8", "IPv4-mapped"),
    ("64:ff9b::7f00:1", "NAT64"),
    ("64:ff9b::808:808", "NAT64"),
    ("2002:7f00:1::1", "6to4 address embedding a loopback"),
    ("2002:c0a8:101::1", "6to4 address embedding a private"),
]


@pytest.mark.parametrize(("address", "why"), REFUSED_ADDRESSES)
def test_every_non_public_address_is_refused_with_its_reason(address: str, why: str) -> None:
    reason = address_refusal(ipaddress.ip_address(address))
    assert reason is not None and why in reason


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("address", REFUSED_ADDRESSES)
def test_an_ip_literal_url_is_refused_before_anything_is_sent(address: tuple[str, str]) -> None:
    host = address[0] if ":" not in address[0] else f"[{address[0]}]"
    with pytest.raises(OutboundRefused) as refused:
        outbound_check_url(f"https://{host}/hook", policy=NOBODY)
    assert refused.value.reason == "address_not_allowed"


@pytest.mark.parametrize(
    "host",
    [
        "2130706433",
        "0177.0.0.1",
        "0x7f.1",
        "127.1",
        "0x7f000001",
        "017700000001",
        "127.0.1",
        "10.1",
        "0300.0250.0.1",
    ],
)
def test_odd_ipv4_spellings_are_refused(host: str) -> None:
    with pytest.raises(OutboundRefused) as refused:
        outbound_parse(f"http://{host}/", policy=NOBODY)
    assert refused.value.reason == "address_not_allowed"
    assert "spelling" in str(refused.value)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "scheme_not_allowed"),
        ("gopher://example.com:70/_x", "scheme_not_allowed"),
        ("ftp://example.com/", "scheme_not_allowed"),
        ("//example.com/", "scheme_not_allowed"),
        ("https://example.com:22/", "port_not_allowed"),
        ("http://example.com:6379/", "port_not_allowed"),
        ("https://user:pw@example.com/", "invalid_url"),
        ("https://example.com:99999/", "invalid_url"),
        ("https:///nohost", "invalid_url"),
        ("https://exa mple.com/", "invalid_url"),
        ("", "invalid_url"),
    ],
)
def test_schemes_ports_and_malformed_urls_are_refused(url: str, reason: str) -> None:
    with pytest.raises(OutboundRefused) as refused:
        outbound_parse(url, policy=NOBODY)
    assert refused.value.reason == reason


def test_a_name_that_resolves_to_a_private_address_is_refused() -> None:
    with pytest.raises(OutboundRefused) as refused:
        outbound_check_url("http://localhost/hook", policy=NOBODY)
    assert refused.value.reason == "address_not_allowed"
    assert "loopback" in str(refused.value) and "localhost" in str(refused.value)


def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(OutboundRefused) as refused:
        outbound_check_url("https://no-such-host.invalid/hook", policy=NOBODY)
    assert refused.value.reason == "unresolvable_host"


def test_listed_hosts_pass_and_a_listed_port_is_only_that_port() -> None:
    assert outbound_check_url("http://127.0.0.1:8123/x", policy=LOCAL).allowed_by_config
    only_port = OutboundPolicy(allowed_hosts=outbound_hosts_parse(["127.0.0.1:8123"]))
    assert outbound_check_url("http://127.0.0.1:8123/x", policy=only_port).allowed_by_config
    with pytest.raises(OutboundRefused):
        outbound_check_url("http://127.0.0.1:8124/x", policy=only_port)
    with pytest.raises(OutboundRefused):  # another spelling of a listed host is not listed
        outbound_check_url("http://localhost:8123/x", policy=only_port)
    assert OutboundPolicy(allowed_hosts=outbound_hosts_parse(["[::1]:9000"])).lets_through("::1", 9000)


def test_extra_ports_are_allowed_only_when_configured() -> None:
    with pytest.raises(OutboundRefused):
        outbound_parse("https://example.com:8443/", policy=NOBODY)
    assert (
        outbound_parse("https://example.com:8443/", policy=OutboundPolicy(allowed_ports=(8443,))).port == 8443
    )


def test_a_guarded_request_reaches_a_listed_receiver_with_the_names_host_header() -> None:
    with receiver() as rx:
        response = outbound_request(
            method="POST", url=f"{rx.url}?a=1", headers={"X-Test": "1"}, body=b"{}", policy=LOCAL
        )
    assert (response.status, response.body, response.truncated) == (200, b"ok", False)
    (request,) = rx.requests
    assert (request.path, request.body, request.headers["x-test"]) == ("/hook?a=1", b"{}", "1")
    assert request.headers["host"] == f"127.0.0.1:{rx.port}"


def test_redirects_are_never_followed() -> None:
    with receiver(lambda n: Answer(status=302, headers={"Location": "http://169.254.169.254/latest"})) as rx:
        response = outbound_request(method="POST", url=rx.url, body=b"{}", policy=LOCAL)
    assert response.status == 302
    assert len(rx.requests) == 1


def test_a_huge_answer_is_read_only_up_to_the_cap() -> None:
    with receiver(lambda n: Answer(body=b"x" * (10 * 2**20))) as rx:
        response = outbound_request(method="POST", url=rx.url, body=b"{}", max_bytes=64 * 1024, policy=LOCAL)
    assert response.truncated and len(response.body) == 64 * 1024


def test_a_receiver_slower_than_the_timeout_is_a_timeout() -> None:
    with receiver(lambda n: Answer(delay=3)) as rx:
        with pytest.raises(OutboundFailed) as failed:
            outbound_request(method="POST", url=rx.url, body=b"{}", timeout=0.5, policy=LOCAL)
    assert failed.value.error_class == "timeout"


def test_a_closed_port_is_a_refused_connection() -> None:
    with receiver() as rx:
        url = rx.url
    with pytest.raises(OutboundFailed) as failed:
        outbound_request(method="POST", url=url, body=b"{}", timeout=2, policy=LOCAL)
    assert failed.value.error_class == "connection_refused"


@pytest.mark.parametrize("body", [b"", b"x" * 50], ids=["headers", "body"])
def test_a_receiver_that_drips_bytes_is_cut_at_the_wall_clock_deadline(body: bytes) -> None:
    """Each byte comes well inside a socket timeout, yet the whole answer would take far longer: the
    client hangs up at its deadline, so most of the answer never goes out (a per-read timeout would
    have read it all)."""
    import time

    with receiver(lambda n: Answer(body=body, drip=0.2)) as rx:
        with pytest.raises(OutboundFailed) as failed:
            outbound_request(method="POST", url=rx.url, body=b"{}", timeout=1.0, policy=LOCAL)
        while not rx.dripped:  # the receiver notices the hang-up at its next write
            time.sleep(0.05)
    assert failed.value.error_class == "timeout"
    sent, whole = rx.dripped[0]
    assert sent < whole / 2, (sent, whole)


@pytest.mark.parametrize(
    "entry", ["host:abc", "host:", "host:0", "host:70000", "[::1", "[::1]x", "::1", ":80"]
)
def test_a_malformed_allowed_host_is_refused_naming_the_entry(entry: str) -> None:
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="OUTBOUND_ALLOWED_HOSTS") as refused:
        outbound_hosts_parse(["ok.example", entry])
    assert repr(entry) in str(refused.value)


def test_allowed_hosts_parse_to_hosts_and_optional_ports() -> None:
    assert outbound_hosts_parse([" Example.com ", "127.0.0.1:8123", "[::1]", "[::1]:9000"]) == (
        ("example.com", None),
        ("127.0.0.1", 8123),
        ("::1", None),
        ("::1", 9000),
    )


def test_a_bad_allowed_host_stops_manage_py_check() -> None:
    """Loudly at startup, not as a 500 at registration or a crashing delivery."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "SECRET_KEY": "check", "OUTBOUND_ALLOWED_HOSTS": "good.example,host:abc"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "'host:abc'" in result.stderr, result.stderr[-2000:]
