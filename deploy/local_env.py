"""`make run`'s local.env: the settings its processes got, for commands started by hand beside it.

`python manage.py ...` (api_service/env.py) and the gpu worker (gpu_worker/config.py) read it for any
variable the environment leaves unset, so they reach the same embedded services with the same secret.
It is shell syntax too: ``set -a; . .data/local.env; set +a`` exports it.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path

# Settings of the api, the control worker and the gpu worker that `make run` may choose itself.
LOCAL_ENV_KEYS = (
    "SECRET_KEY",
    "API_KEY_HASH_SECRET",
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "S3_ENDPOINT_URL",
    "S3_PUBLIC_ENDPOINT_URL",
    "S3_ACCESS_KEY",
    "S3_SECRET_KEY",
    "S3_BUCKET",
    "S3_REGION",
    "MODELS_DIR",
)


def write_local_env(path: Path, values: Mapping[str, str]) -> None:
    """Replace ``path`` at once (a reader never sees half a file), readable by its owner only."""
    body = "".join(f"{name}={shlex.quote(value)}\n" for name, value in values.items())
    text = (
        "# Written by `make run` at each start: the settings of its processes. The environment wins\n"
        "# over this file; delete it to make `manage.py` use only the environment.\n" + body
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # also when a stale temp file was there with another mode
        with os.fdopen(fd, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
