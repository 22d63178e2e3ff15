"""This worker's side of execution leases (protocol/leases.py): claim, heartbeat, finish."""

from __future__ import annotations

import dataclasses
import logging
import threading
from dataclasses import dataclass
from typing import Any

from protocol import leases
from protocol.messages import RunSpec
from protocol.timing import FleetTiming

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claim:
    status: str  # leases.RUN, BUSY or FINISHED
    spec: RunSpec  # with the attempt set to the fencing token (RUN)
    holder: str = ""  # BUSY: the lease holder, "<token>:<worker>"
    worker: str = ""

    @property
    def holder_value(self) -> str:
        return f"{self.spec.attempt}:{self.worker}"


def lease_claim(redis: Any, spec: RunSpec, *, worker: str, timing: FleetTiming) -> Claim:
    """Claim the run for this worker. With Redis unreachable the run goes ahead unfenced (the state
    machine still keeps one result): a Redis outage must not stop the fleet."""
    k = leases.keys(spec.execution_id)
    try:
        status, value = redis.eval(
            leases.CLAIM_SCRIPT,
            3,
            k["lease"],
            k["attempts"],
            k["done"],
            spec.attempt,
            worker,
            timing.lease_seconds * 1000,
            leases.ATTEMPT_TTL_SECONDS,
        )
    except Exception:
        log.warning("could not claim %s in Redis; running it unfenced", spec.execution_id, exc_info=True)
        return Claim(leases.RUN, attempt_spec(spec, spec.attempt), worker=worker)
    status, value = _text(status), _text(value)
    if status != leases.RUN:
        return Claim(status, spec, holder=value, worker=worker)
    return Claim(leases.RUN, attempt_spec(spec, int(value)), worker=worker)


def attempt_spec(spec: RunSpec, token: int) -> RunSpec:
    """The spec of attempt `token`: its artifacts go under their own prefix, so a retry never mixes
    its files with an earlier attempt's."""
    return dataclasses.replace(spec, attempt=token, storage_prefix=f"{spec.storage_prefix}attempt-{token}/")


def lease_finish(redis: Any, claim: Claim, *, done: bool = True) -> None:
    """Drop this attempt's lease and heartbeat; `done` also marks the run finished, so a later copy
    of it (a redelivery, a retry) exits instead of running again."""
    k = leases.keys(claim.spec.execution_id)
    try:
        redis.eval(
            leases.FINISH_SCRIPT if done else leases.RELEASE_SCRIPT,
            3,
            k["lease"],
            k["heartbeat"],
            k["done"],
            claim.holder_value,
            leases.DONE_TTL_SECONDS,
        )
    except Exception:
        log.warning("could not mark %s finished in Redis", claim.spec.execution_id, exc_info=True)


class Heartbeat:
    """Renews the lease every heartbeat interval from a thread while the run goes on (a node may run
    for minutes without returning to Python code we control). `lost` turns true if another attempt
    took the lease: the run then stops at its next cancel check, its events would be ignored anyway."""

    def __init__(self, redis: Any, claim: Claim, timing: FleetTiming) -> None:
        self._redis, self._claim, self._timing = redis, claim, timing
        self._stop = threading.Event()
        self.lost = False
        self._thread = threading.Thread(
            target=self._run, name=f"heartbeat-{claim.spec.execution_id}", daemon=True
        )

    def __enter__(self) -> Heartbeat:
        self.beat()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self._timing.heartbeat_seconds + 1)

    def _run(self) -> None:
        while not self._stop.wait(self._timing.heartbeat_seconds):
            self.beat()

    def beat(self) -> None:
        k = leases.keys(self._claim.spec.execution_id)
        try:
            held = self._redis.eval(
                leases.RENEW_SCRIPT,
                2,
                k["lease"],
                k["heartbeat"],
                self._claim.holder_value,
                self._claim.spec.attempt,
                self._timing.lease_seconds * 1000,
            )
        except Exception:
            log.warning("heartbeat of %s not written: Redis did not answer", self._claim.spec.execution_id)
            return
        if not held and not self.lost:
            log.warning(
                "execution %s attempt %s lost its lease to another attempt; stopping",
                self._claim.spec.execution_id,
                self._claim.spec.attempt,
            )
            self.lost = True


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
