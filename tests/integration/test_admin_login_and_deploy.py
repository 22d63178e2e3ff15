"""Admin login is throttled per username and client address, and per username alone.

Production settings pass `check --deploy`.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture
def staff(db):
    from django.contrib.auth import get_user_model

    username, password = f"ops-{secrets.token_hex(4)}", secrets.token_urlsafe(12)
    get_user_model().objects.create_superuser(username=username, password=password)
    return username, password


def _login(username: str, password: str, ip: str):
    from django.test import Client

    return Client(REMOTE_ADDR=ip).post(LOGIN, {"username": username, "password": password})


def test_admin_login_locks_a_username_and_address_out_after_repeated_failures(staff) -> None:
    from django.conf import settings

    username, password = staff
    limit = settings.AXES_FAILURE_LIMIT
    for _ in range(limit - 1):
        response = _login(username, "wrong", "10.0.0.1")
        assert response.status_code == 200 and b"Please enter the correct username" in response.content
    assert _login(username, "wrong", "10.0.0.1").status_code == 429  # the limit-th failure locks
    locked = _login(username, password, "10.0.0.1")  # even the right password, now
    assert locked.status_code == 429 and b"locked" in locked.content.lower()
    # Another address is not locked out of the same account, and logs in.
    assert _login(username, password, "10.0.0.2").status_code == 302


def test_rotating_addresses_still_locks_the_username_out_at_its_own_higher_limit(staff) -> None:
    from django.conf import settings
    from django.core.management import call_command

    username, password = staff
    per_address, per_username = settings.AXES_FAILURE_LIMIT - 1, settings.AXES_USERNAME_FAILURE_LIMIT
    assert per_username > settings.AXES_FAILURE_LIMIT
    answers = [
        _login(username, "wrong", f"10.1.{n // per_address}.{n % per_address + 1}").status_code
        for n in range(per_username)
    ]
    # No address reached its own limit; the username's count across them all locks on its limit-th.
    assert answers == [200] * (per_username - 1) + [429]
    locked = _login(username, password, "10.1.99.1")  # a fresh address, the right password
    assert locked.status_code == 429 and b"locked" in locked.content.lower()
    assert _login("someone-else", "wrong", "10.1.99.1").status_code == 200  # other usernames unaffected
    call_command("axes_reset_username", username, verbosity=0)
    assert _login(username, password, "10.1.99.1").status_code == 302


def test_below_the_username_limit_the_admin_still_logs_in_from_a_fresh_address(staff) -> None:
    from django.conf import settings

    username, password = staff
    per_address = settings.AXES_FAILURE_LIMIT - 1
    for n in range(settings.AXES_USERNAME_FAILURE_LIMIT - 1):
        assert _login(username, "wrong", f"10.2.{n // per_address}.{n % per_address + 1}").status_code == 200
    assert _login(username, password, "10.2.99.1").status_code == 302


def test_a_successful_login_resets_the_count(staff) -> None:
    from django.conf import settings

    username, password = staff
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(username, "wrong", "10.0.1.1").status_code == 200
    assert _login(username, password, "10.0.1.1").status_code == 302
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(username, "wrong", "10.0.1.1").status_code == 200
    assert _login(username, password, "10.0.1.1").status_code == 302


def test_the_lockout_ends_after_the_cool_off_and_ops_can_clear_it(staff) -> None:
    from axes.models import AccessAttempt
    from django.conf import settings
    from django.core.management import call_command
    from django.utils import timezone

    username, password = staff
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(username, "wrong", "10.0.2.1")
    assert _login(username, password, "10.0.2.1").status_code == 429
    # As if the cool-off had passed: the attempts are older than AXES_COOLOFF_TIME.
    old = timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    AccessAttempt.objects.filter(username=username).update(attempt_time=old)
    assert _login(username, password, "10.0.2.1").status_code == 302
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(username, "wrong", "10.0.2.1")
    assert _login(username, password, "10.0.2.1").status_code == 429
    call_command("axes_reset_username", username, verbosity=0)
    assert _login(username, password, "10.0.2.1").status_code == 302


def test_the_client_address_behind_trusted_proxies(db) -> None:
    from django.test import RequestFactory, override_settings

    from api_service.core.client_ip import client_ip

    request = RequestFactory().get("/", REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR="6.6.6.6, 1.2.3.4")
    with override_settings(TRUSTED_PROXY_COUNT=0):
        assert client_ip(request) == "10.9.9.9"  # no proxy trusted: the header could be the client's own
    with override_settings(TRUSTED_PROXY_COUNT=1):
        assert client_ip(request) == "1.2.3.4"  # what our proxy saw; the client wrote 6.6.6.6
    with override_settings(TRUSTED_PROXY_COUNT=3):
        assert client_ip(request) == "10.9.9.9"  # shorter than the proxies: it bypassed them


def _check_deploy(**overrides: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "BEHIND_TLS_PROXY")}
    env.update(
        {
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "crucible.example.com",
            "DATABASE_URL": "postgres://crucible@127.0.0.1:1/crucible",  # the checks need no database
            **overrides,
        }
    )
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_check_deploy_behind_a_tls_proxy() -> None:
    done = _check_deploy(BEHIND_TLS_PROXY="1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_plain_http_settings_are_what_check_deploy_warns_about() -> None:
    # `make run` on http://127.0.0.1: no Secure cookies, no HSTS; check --deploy says so by name.
    done = _check_deploy()
    assert done.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in done.stderr
