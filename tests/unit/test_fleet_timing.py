"""The fleet's coupled time settings: one source, and every contradicting pair refused."""

from __future__ import annotations

import pytest

from protocol.timing import FleetTiming, TimingError


def test_defaults_are_consistent_and_derived() -> None:
    timing = FleetTiming().checked()
    assert timing.soft_time_limit == timing.task_time_limit - timing.soft_grace
    assert timing.visibility_timeout > timing.task_time_limit + timing.soft_grace
    assert timing.stale_after > timing.task_time_limit
    assert timing.lease_seconds == timing.heartbeat_seconds * timing.heartbeat_misses


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"soft_grace": 1800}, "GPU_TASK_SOFT_GRACE"),
        ({"task_time_limit": 0}, "GPU_TASK_TIME_LIMIT"),
        ({"heartbeat_misses": 1}, "HEARTBEAT_MISSES"),
        ({"visibility_margin": -40}, "visibility timeout"),
        ({"heartbeat_seconds": 700, "task_time_limit": 1800}, "lease"),
    ],
)
def test_each_contradiction_is_named(changes: dict[str, int], named: str) -> None:
    timing = FleetTiming(**changes)
    assert any(named in problem for problem in timing.problems())
    with pytest.raises(TimingError, match=named):
        timing.checked()


def test_read_from_the_environment_with_clear_errors() -> None:
    env = {"GPU_TASK_TIME_LIMIT": "600", "HEARTBEAT_SECONDS": "2"}
    timing = FleetTiming.from_env(env.get)
    assert (timing.task_time_limit, timing.heartbeat_seconds, timing.soft_grace) == (600, 2, 30)
    with pytest.raises(TimingError, match="HEARTBEAT_SECONDS must be a whole number"):
        FleetTiming.from_env({"HEARTBEAT_SECONDS": "fast"}.get)
    with pytest.raises(TimingError, match="GPU_TASK_SOFT_GRACE"):
        FleetTiming.from_env({"GPU_TASK_TIME_LIMIT": "20", "GPU_TASK_SOFT_GRACE": "30"}.get)
