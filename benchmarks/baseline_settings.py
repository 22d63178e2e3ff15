"""The api's settings plus DRF's token authentication and one plain view: the poll benchmark's baseline,
served by the same gunicorn settings against the same PostgreSQL."""

from __future__ import annotations

from api_service.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "rest_framework.authtoken"]  # noqa: F405
ROOT_URLCONF = "benchmarks.baseline_urls"
