"""Small typed readers for environment settings that fail loudly on bad values.

A variable the environment leaves unset is looked up in the ``local.env`` that `make run` writes
(DATA_DIR's, else the checkout's ``.data/``), so ``python manage.py ...`` run beside it needs no
exports. The environment always wins; without the file only the environment counts.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from deploy import local_env


def env_raw(name: str) -> str | None:
    """The variable from the environment; if unset there, from `make run`'s local.env (see above)."""
    try:
        return local_env.env_raw(name)
    except local_env.LocalEnvError as exc:
        raise ImproperlyConfigured(str(exc)) from None


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


def database_from_url(url: str, *, pool_size: int = 0) -> dict[str, object]:
    """postgres://user:password@host:port/name?sslmode=require -> a Django DATABASES entry.

    dj-database-url does the parsing, so the query string (sslmode, options, ...) is kept as OPTIONS.
    `pool_size` > 0: a psycopg connection pool of that many connections per process instead of
    persistent per-thread connections (the ASGI api runs each request in a thread of its own, where
    per-thread connections would pile up; a pool hands one back at the end of each request).
    """
    import dj_database_url

    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in ("postgres", "postgresql"):
        raise ImproperlyConfigured(f"DATABASE_URL must be a postgres:// URL, got scheme {scheme!r}.")
    config = dict(dj_database_url.parse(url, conn_max_age=0 if pool_size else 60, conn_health_checks=True))
    config["NAME"] = config.get("NAME") or "crucible"
    if pool_size:
        options = dict(config.get("OPTIONS") or {})  # type: ignore[call-overload]
        options["pool"] = {"min_size": 1, "max_size": pool_size, "timeout": 10}
        config["OPTIONS"] = options
    return config
