"""The api as served: ASGI under gunicorn with uvicorn workers (deploy/processes.py), so event streams
wait on Redis without holding a thread; every other view runs in its own thread per request."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api_service.settings")
# Requests run in threads of their own: share a pool of connections instead of one per thread.
os.environ.setdefault("DATABASE_POOL_SIZE", "8")
application = get_asgi_application()
