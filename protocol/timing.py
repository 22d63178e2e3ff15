"""The fleet's coupled time settings, derived from one place for both Celery apps and the reaper.

A gpu task may run `task_time_limit` seconds (its soft limit `soft_grace` earlier stops it cleanly).
The broker must not hand an unacknowledged run to another worker while it may still be running, so
the visibility timeout is longer than the hard limit plus a margin. A running execution proves it is
alive by a heartbeat every `heartbeat_seconds`; its lease lapses after `heartbeat_misses` missed
beats, which is when the reaper may retry it. A RUNNING row older than the hard limit plus a lease is
stale whatever its heartbeat says. After SIGTERM a worker has `drain_grace` seconds to finish its run
before it hands the run back; its supervisor waits `stop_timeout` before killing it. `problems()`
names every pair that contradicts; both processes refuse to start with one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Getenv = Callable[[str], "str | None"]


class TimingError(ValueError):
    """A time setting that is malformed or contradicts another; the message names the variable."""


@dataclass(frozen=True)
class FleetTiming:
    task_time_limit: int = 1800  # GPU_TASK_TIME_LIMIT
    soft_grace: int = 30  # GPU_TASK_SOFT_GRACE
    heartbeat_seconds: int = 5  # HEARTBEAT_SECONDS
    heartbeat_misses: int = 3  # HEARTBEAT_MISSES
    visibility_margin: int = 300  # BROKER_VISIBILITY_MARGIN
    drain_grace: int = 20  # DRAIN_GRACE_SECONDS: after SIGTERM, time to finish a run before handing it back

    @property
    def soft_time_limit(self) -> int:
        return self.task_time_limit - self.soft_grace

    @property
    def lease_seconds(self) -> int:
        """How long an execution's lease lives without a heartbeat."""
        return self.heartbeat_seconds * self.heartbeat_misses

    @property
    def visibility_timeout(self) -> int:
        """The Redis broker's redelivery delay for an unacknowledged run."""
        return self.task_time_limit + self.visibility_margin

    @property
    def stale_after(self) -> int:
        """RUNNING longer than this is past any limit: the run is over whatever Redis says."""
        return self.task_time_limit + 2 * self.lease_seconds

    def problems(self) -> list[str]:
        found = []
        for name, value in (
            ("GPU_TASK_TIME_LIMIT", self.task_time_limit),
            ("GPU_TASK_SOFT_GRACE", self.soft_grace),
            ("HEARTBEAT_SECONDS", self.heartbeat_seconds),
            ("HEARTBEAT_MISSES", self.heartbeat_misses),
            ("BROKER_VISIBILITY_MARGIN", self.visibility_margin),
            ("DRAIN_GRACE_SECONDS", self.drain_grace),
        ):
            if value <= 0:
                found.append(f"{name} must be positive, got {value}")
        if self.soft_time_limit <= 0:
            found.append(
                f"GPU_TASK_SOFT_GRACE ({self.soft_grace}) must be less than GPU_TASK_TIME_LIMIT "
                f"({self.task_time_limit})"
            )
        if self.heartbeat_misses < 2:
            found.append("HEARTBEAT_MISSES must be at least 2, so one late beat does not look like a death")
        if self.visibility_timeout <= self.task_time_limit + self.soft_grace:
            found.append(
                f"the broker's visibility timeout ({self.visibility_timeout} s) must exceed "
                f"GPU_TASK_TIME_LIMIT + GPU_TASK_SOFT_GRACE ({self.task_time_limit + self.soft_grace} s)"
            )
        if self.lease_seconds >= self.task_time_limit:
            found.append(
                f"a lease (HEARTBEAT_SECONDS x HEARTBEAT_MISSES = {self.lease_seconds} s) must be shorter "
                f"than GPU_TASK_TIME_LIMIT ({self.task_time_limit} s)"
            )
        if self.drain_grace >= self.task_time_limit:
            found.append(
                f"DRAIN_GRACE_SECONDS ({self.drain_grace}) must be less than GPU_TASK_TIME_LIMIT "
                f"({self.task_time_limit})"
            )
        return found

    @property
    def stop_timeout(self) -> int:
        """How long a supervisor waits for a gpu worker after SIGTERM before killing it: the grace,
        the hand-back at the next step, and the process's exit."""
        return self.drain_grace + 15

    def checked(self) -> FleetTiming:
        found = self.problems()
        if found:
            raise TimingError("; ".join(found) + ".")
        return self

    @classmethod
    def from_env(cls, getenv: Getenv) -> FleetTiming:
        """Read from `getenv` (each side passes its own env reader) and check the whole set."""
        defaults = cls()
        values = {}
        for field_name, variable in FIELDS.items():
            raw = getenv(variable)
            if raw in (None, ""):
                values[field_name] = getattr(defaults, field_name)
                continue
            try:
                values[field_name] = int(str(raw))
            except ValueError:
                raise TimingError(f"{variable} must be a whole number of seconds, got {raw!r}.") from None
        return cls(**values).checked()

    def celery_transport_options(self) -> dict[str, int]:
        return {"visibility_timeout": self.visibility_timeout}


FIELDS = {
    "task_time_limit": "GPU_TASK_TIME_LIMIT",
    "soft_grace": "GPU_TASK_SOFT_GRACE",
    "heartbeat_seconds": "HEARTBEAT_SECONDS",
    "heartbeat_misses": "HEARTBEAT_MISSES",
    "visibility_margin": "BROKER_VISIBILITY_MARGIN",
    "drain_grace": "DRAIN_GRACE_SECONDS",
}
