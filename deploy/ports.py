"""Which of the ports `make run` needs are busy, and which free ones to suggest instead."""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass

HOST = "127.0.0.1"


@dataclass(frozen=True)
class PortUse:
    """`count` consecutive ports from `port`, taken by `what`, chosen with the variable `variable`."""

    what: str
    variable: str
    port: int
    count: int = 1

    @property
    def ports(self) -> range:
        return range(self.port, self.port + self.count)


def port_taken(port: int, host: str = HOST) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: ignore TIME_WAIT
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def busy_ports(uses: Iterable[PortUse]) -> list[tuple[PortUse, list[int]]]:
    """Each use with at least one busy port, and those ports."""
    busy = []
    for use in uses:
        taken = [port for port in use.ports if port_taken(port)]
        if taken:
            busy.append((use, taken))
    return busy


def suggest_free(uses: Iterable[PortUse], *, avoid: Iterable[int] = ()) -> dict[str, int]:
    """A free base port per use (its whole block free), above the wanted one, none shared."""
    claimed = set(avoid)
    suggestion = {}
    for use in uses:
        candidate = use.port + use.count
        while candidate + use.count <= 65535:
            block = range(candidate, candidate + use.count)
            if not claimed.intersection(block) and not any(port_taken(port) for port in block):
                break
            candidate += use.count
        else:
            continue
        suggestion[use.variable] = candidate
        claimed.update(range(candidate, candidate + use.count))
    return suggestion


def busy_report(busy: list[tuple[PortUse, list[int]]], uses: list[PortUse]) -> str:
    """What a person reads: every busy port, what needs it, and a command line with free ones."""
    lines = [f"These ports on {HOST} are in use (another `make run`, or another program):"]
    for use, taken in busy:
        ports = ", ".join(str(port) for port in taken)
        block = f" (of {use.port}-{use.port + use.count - 1})" if use.count > 1 else ""
        lines.append(f"  {ports}{block}: {use.what}; choose another with {use.variable}")
    avoid = [port for use in uses for port in use.ports]
    suggestion = suggest_free([use for use, _ in busy], avoid=avoid)
    if suggestion:
        assignments = " ".join(f"{name}={port}" for name, port in suggestion.items())
        lines.append(f"Stop what holds them, or choose free ports, for example:\n  {assignments} make run")
    return "\n".join(lines)
