"""Headers on every answer: no caching of API answers, nosniff, a CSP under which /docs still works."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin, urlparse

import pytest

from tests.support.factories import make_key


class Assets(HTMLParser):
    """The scripts, inline scripts and stylesheets a page loads."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.inline_scripts = 0
        self.stylesheets: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            source = values.get("src")
            if source:
                self.scripts.append(source)
            elif values.get("type") != "application/json":
                self._in_script = True
        if tag == "link" and values.get("rel") == "stylesheet":
            self.stylesheets.append(values.get("href") or "")

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False


def csp(response) -> dict[str, list[str]]:
    directives = [part.split() for part in response.headers["Content-Security-Policy"].split(";")]
    return {d[0]: d[1:] for d in directives if d}


def test_api_answers_are_not_cached_nor_sniffed(api, anonymous) -> None:
    for response in (
        api.get("/v1/workflows"),
        api.get("/v1/workflows/wf_nothing"),
        anonymous.get("/v1/usage"),
        api.get("/v1/openapi.json"),
    ):
        assert response.headers["Cache-Control"] == "no-store", response.url
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert csp(response)["default-src"] == ["'none'"]


def test_docs_render_under_their_csp(anonymous) -> None:
    page = anonymous.get("/docs")
    assert page.status_code == 200
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    policy = csp(page)
    assert policy["script-src"] == ["'self'"]  # no inline or eval'd script may run
    assets = Assets()
    assets.feed(page.text)
    assert assets.inline_scripts == 0, "an inline <script> would be blocked by script-src 'self'"
    assert len(assets.scripts) >= 3 and assets.stylesheets  # Swagger UI bundle, preset, init script
    origin = urlparse(page.url).netloc
    for src in assets.scripts + assets.stylesheets:
        url = urljoin(page.url, src)
        assert urlparse(url).netloc == origin, f"{url} is not served by this origin"
        asset = anonymous.request(
            "GET", urlparse(url).path + (f"?{urlparse(url).query}" if "?" in url else "")
        )
        assert asset.status_code == 200, url
        kind = "css" if src in assets.stylesheets else "javascript"
        assert kind in asset.headers["Content-Type"], (url, asset.headers["Content-Type"])
    init = anonymous.session.get(urljoin(page.url, assets.scripts[-1]), timeout=30)
    assert "/v1/openapi.json" in init.text  # the init script points Swagger UI at the document
    assert anonymous.get("/v1/openapi.json").status_code == 200  # allowed by connect-src 'self'
    assert "'self'" in policy["connect-src"]


def test_admin_has_a_csp(anonymous) -> None:
    login = anonymous.get("/admin/login/")
    assert login.status_code == 200
    assert csp(login)["script-src"] == ["'self'"]
    assert csp(login)["frame-ancestors"] == ["'none'"]
    assets = Assets()
    assets.feed(login.text)
    assert assets.inline_scripts == 0


@pytest.fixture
def buggy_client(db, world):
    from django.test import Client, override_settings

    with override_settings(ROOT_URLCONF="tests.support.broken_urls"):
        yield Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {make_key(world.tenant)}")


def test_a_500_keeps_the_error_shape_and_the_rate_limit_headers(buggy_client, world) -> None:
    from api_service.accounts.models import IdempotencyRecord

    for response in (
        buggy_client.get("/v1/buggy"),
        buggy_client.post("/v1/buggy", {"a": 1}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k1"),
    ):
        assert response.status_code == 500
        assert response.json()["error"]["type"] == "internal_error"
        assert "a bug" not in response.content.decode()  # no internals in public errors
        assert int(response.headers["X-RateLimit-Limit"]) > 0
        assert "RateLimit" in response.headers
        assert response.headers["Cache-Control"] == "no-store"
    # The failed POST released its Idempotency-Key: a retry runs again instead of replaying a 500.
    assert not IdempotencyRecord.objects.filter(tenant=world.tenant, key="k1").exists()
