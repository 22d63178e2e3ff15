"""Small typed readers for environment settings that fail loudly on bad values.

A variable the environment leaves unset is looked up in the ``local.env`` that `make run` writes
(DATA_DIR's, else the checkout's ``.data/``), so ``python manage.py ...`` run beside it needs no
exports. The environment always wins; without the file only the environment counts.
"""

from __future__ import annotations

import functools
import os
import shlex
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCAL_ENV_NAME = "local.env"


def local_env_path() -> Path:
    """Where `make run` writes the settings of its processes: DATA_DIR's local.env, else the checkout's."""
    data_dir = os.environ.get("DATA_DIR")
    return (Path(data_dir) if data_dir else REPO_ROOT / ".data") / LOCAL_ENV_NAME


def read_local_env(path: Path) -> dict[str, str]:
    """``NAME=value`` lines (values shell-quoted, ``#`` comments); {} when the file does not exist."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ImproperlyConfigured(f"Cannot read {path}: {exc}.") from None
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, raw = line.partition("=")
        try:
            words = shlex.split(raw)
        except ValueError:
            words = None
        if not sep or not name.isidentifier() or words is None or len(words) > 1:
            raise ImproperlyConfigured(f"{path}, line {number}: expected NAME=value, got {line!r}.")
        values[name] = words[0] if words else ""
    return values


@functools.cache
def _local_env(path: Path) -> dict[str, str]:
    return read_local_env(path)


def env_raw(name: str) -> str | None:
    """The variable from the environment; if unset there, from `make run`'s local.env (see above)."""
    value = os.environ.get(name)
    if value not in (None, ""):
        return value
    return _local_env(local_env_path()).get(name)


def env_str(name: str, default: str | None = None) -> str:
    value = env_raw(name)
    if value in (None, ""):
        if default is None:
            raise ImproperlyConfigured(f"Environment variable {name} is required.")
        return default
    return value


def env_int(name: str, default: int) -> int:
    raw = env_raw(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}.") from None


def env_bool(name: str, default: bool) -> bool:
    raw = env_raw(name)
    if raw in (None, ""):
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {raw!r}.")


def env_list(name: str, default: list[str]) -> list[str]:
    raw = env_raw(name)
    if raw in (None, ""):
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def database_from_url(url: str) -> dict[str, object]:
    """postgres://user:password@host:port/name?sslmode=require -> a Django DATABASES entry.

    dj-database-url does the parsing, so the query string (sslmode, options, ...) is kept as OPTIONS.
    """
    import dj_database_url

    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in ("postgres", "postgresql"):
        raise ImproperlyConfigured(f"DATABASE_URL must be a postgres:// URL, got scheme {scheme!r}.")
    config = dict(dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True))
    config["NAME"] = config.get("NAME") or "crucible"
    return config
