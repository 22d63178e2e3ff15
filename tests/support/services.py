"""The real backing services for a test session: the environment's, or embedded ones.

DATABASE_URL / REDIS_URL / S3_ENDPOINT_URL in the environment name external
services (CI: the machine's PostgreSQL and Redis). Whatever is not named is
started embedded under a temporary folder on ports of its own, so a running
`make run` is never touched. The session gets its own database, Redis
database and bucket.
"""

from __future__ import annotations

import os
import random
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse, urlunparse

from deploy.embedded import EmbeddedServices, start_embedded


def _free_block(size: int) -> int:
    """A random base port with `size` free ports above it, so parallel test sessions never collide."""
    for _ in range(200):
        base = random.randrange(20000, 32000 - size)
        if all(_port_free(base + i) for i in range(size)):
            return base
    raise RuntimeError("no free block of ports found")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def session_ports() -> dict[str, int]:
    # SeaweedFS takes the S3 port and the 9 above it.
    return {"postgres": _free_block(1), "redis": _free_block(1), "s3": _free_block(10)}


@dataclass
class ServiceEnv:
    env: dict[str, str]
    embedded: EmbeddedServices | None
    admin_database_url: str
    database_name: str
    redis_db: int

    def stop(self) -> None:
        release_redis_db(self.env["REDIS_URL"], self.redis_db)
        if self.embedded is not None:
            self.embedded.stop()


def start_services(tmp: Path) -> ServiceEnv:
    need_pg = not os.environ.get("DATABASE_URL")
    need_redis = not os.environ.get("REDIS_URL")
    need_s3 = not os.environ.get("S3_ENDPOINT_URL")
    embedded = None
    env: dict[str, str] = {}
    if need_pg or need_redis or need_s3:
        embedded = start_embedded(
            tmp / "services", postgres=need_pg, redis=need_redis, s3=need_s3, ports=session_ports()
        )
        env.update(embedded.as_env())
    for name in (
        "DATABASE_URL",
        "REDIS_URL",
        "S3_ENDPOINT_URL",
        "S3_ACCESS_KEY",
        "S3_SECRET_KEY",
        "CELERY_BROKER_URL",
    ):
        if os.environ.get(name):
            env[name] = os.environ[name]
    admin_url = env["DATABASE_URL"]
    database_name = f"crucible_test_{secrets.token_hex(4)}"
    env["DATABASE_URL"] = _with_path(admin_url, database_name)
    # A Redis database of the session's own, claimed so two suites on one server never flush each other.
    redis_db = claim_redis_db(env["REDIS_URL"])
    env["REDIS_URL"] = _with_path(env["REDIS_URL"], str(redis_db))
    env["S3_BUCKET"] = f"crucible-test-{secrets.token_hex(4)}"
    _create_database(admin_url, database_name)
    _flush_redis(env["REDIS_URL"])
    return ServiceEnv(
        env=env,
        embedded=embedded,
        admin_database_url=admin_url,
        database_name=database_name,
        redis_db=redis_db,
    )


def drop_database(service_env: ServiceEnv) -> None:
    import psycopg

    with psycopg.connect(_psycopg_url(service_env.admin_database_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{service_env.database_name}" WITH (FORCE)')


def _with_path(url: str, path: str) -> str:
    return urlunparse(urlparse(url)._replace(path=f"/{path}"))


def _psycopg_url(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


def _create_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(_psycopg_url(admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


# Databases 1-15 of the server (0 is what `make run` and most deployments use). A claim is a key in
# database 0 that expires, so a suite killed without cleaning up frees its database after a while.
TEST_REDIS_DBS = range(1, 16)
CLAIM_KEY = "crucible:test-suite:redis-db:{db}"
CLAIM_SECONDS = 3 * 3600


def claim_redis_db(url: str) -> int:
    """A Redis database no other running test suite on this server uses (TEST_REDIS_DB forces one)."""
    import redis

    if os.environ.get("TEST_REDIS_DB"):
        return int(os.environ["TEST_REDIS_DB"])
    client = redis.Redis.from_url(_with_path(url, "0"))
    token = f"{socket.gethostname()}:{os.getpid()}"
    for db in random.sample(list(TEST_REDIS_DBS), len(TEST_REDIS_DBS)):
        if client.set(CLAIM_KEY.format(db=db), token, nx=True, ex=CLAIM_SECONDS):
            return db
    raise RuntimeError("every Redis test database (1-15) is claimed by another running test suite")


def release_redis_db(url: str, db: int) -> None:
    import redis

    try:
        redis.Redis.from_url(_with_path(url, "0")).delete(CLAIM_KEY.format(db=db))
    except redis.RedisError:
        pass  # the claim expires by itself


def _flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()
