"""Response headers for every answer: API answers are never cached, pages run only their own code.

- `/v1/...` answers hold presigned URLs and tenant data: `Cache-Control: no-store`,
  and a CSP that lets a JSON answer load nothing, should a browser render one.
- `/docs` (Swagger UI, served from the sidecar package with its init script as a
  file of its own) and `/admin/` run only scripts from this origin. Their inline
  `style` attributes and the Swagger page's one <style> block are allowed; icons
  are data: URIs.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

API_CSP = "default-src 'none'; frame-ancestors 'none'"
PAGE_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
PAGE_PREFIXES = ("/docs", "/admin/", "/static/")


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("X-Content-Type-Options", "nosniff")
        if request.path.startswith("/v1/"):
            response["Cache-Control"] = "no-store"
            response.setdefault("Content-Security-Policy", API_CSP)
        elif request.path.startswith(PAGE_PREFIXES):
            response.setdefault("Content-Security-Policy", PAGE_CSP)
        return response
