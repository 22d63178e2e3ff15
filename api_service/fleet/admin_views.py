"""The admin's live fleet page: every worker with its host, GPU, state, run and model cache."""

from __future__ import annotations

import time

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from api_service.fleet import selectors


def fleet_page(request: HttpRequest) -> HttpResponse:
    try:
        workers = selectors.fleet_workers()
        error = ""
    except selectors.FleetUnavailable as exc:
        workers, error = [], str(exc)
    now = time.time()
    rows = [
        {**w, "seenAgo": round(now - w["seenAt"], 1), "upFor": round(now - w["startedAt"])} for w in workers
    ]
    context = {
        **admin.site.each_context(request),
        "title": "GPU fleet",
        "workers": rows,
        "pools": selectors.pool_list(),
        "error": error,
    }
    return TemplateResponse(request, "admin/fleet/fleet.html", context)
