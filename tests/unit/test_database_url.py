"""DATABASE_URL keeps everything it says: credentials, port and the query string."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from api_service.env import database_from_url


def test_the_query_string_becomes_connection_options() -> None:
    config = database_from_url("postgres://app:p%40ss@db.internal:5433/crucible?sslmode=require")
    assert config["OPTIONS"] == {"sslmode": "require"}
    assert (config["USER"], config["PASSWORD"], config["HOST"], config["PORT"], config["NAME"]) == (
        "app",
        "p@ss",
        "db.internal",
        5433,
        "crucible",
    )


def test_a_url_without_a_database_name_uses_crucible() -> None:
    assert database_from_url("postgresql://postgres@127.0.0.1:5432/")["NAME"] == "crucible"


def test_another_database_is_refused_by_name() -> None:
    with pytest.raises(ImproperlyConfigured, match="postgres://"):
        database_from_url("mysql://root@127.0.0.1/crucible")
