"""Both Celery apps and the reaper take their times from the one FleetTiming; a worker with a bad
setting refuses to start, naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def test_both_celery_apps_use_the_same_visibility_timeout(db) -> None:
    from django.conf import settings

    from api_service.celery import app as control_app
    from gpu_worker.celery_app import app as gpu_app
    from gpu_worker.tasks import execute

    timing = settings.FLEET_TIMING
    assert control_app.conf.broker_transport_options == gpu_app.conf.broker_transport_options
    assert gpu_app.conf.broker_transport_options["visibility_timeout"] == timing.visibility_timeout
    assert (execute.time_limit, execute.soft_time_limit) == (timing.task_time_limit, timing.soft_time_limit)
    assert settings.EXECUTION_STALE_AFTER_SECONDS == timing.stale_after
    assert timing.visibility_timeout > (execute.time_limit or 0)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("GPU_WORKER_DEVICE", "gpu0"),
        ("GPU_TASK_SOFT_GRACE", "5000"),
        ("NODE_CACHE_BYTES", "lots"),
        ("S3_ENDPOINT_URL", "ftp://storage"),
        ("GPU_WORKER_POOL", "bad pool!"),
    ],
)
def test_a_worker_with_a_bad_setting_exits_at_start_naming_it(
    platform_env, variable: str, value: str
) -> None:
    env = {**os.environ, **platform_env, variable: value}
    cmd = [sys.executable, "-m", "celery", "-A", "gpu_worker.celery_app:app", "worker", "-Q", "gpu.none"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "bad configuration" in done.stderr and variable in done.stderr
    assert "Traceback" not in done.stderr
