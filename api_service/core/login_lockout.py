"""Admin login lockout with two thresholds: per username and address, and per username alone.

django-axes counts failures per each combination in AXES_LOCKOUT_PARAMETERS but compares them all
with the one AXES_FAILURE_LIMIT. An attacker rotating addresses needs a per-username count too, and
a higher one, or five wrong guesses from anywhere would lock the real admin out.
"""

from __future__ import annotations

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_failure_limit
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest


class TwoLimitLockoutHandler(AxesDatabaseHandler):
    def get_failures(self, request: HttpRequest, credentials: dict | None = None) -> int:
        """The username+address count, or axes' limit once the username alone reached its own."""
        per_pair, per_username = (
            attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            for attempts in self.get_user_attempts(request, credentials)
        )
        if per_username >= settings.AXES_USERNAME_FAILURE_LIMIT:
            return max(per_pair, get_failure_limit(request, credentials))
        return per_pair
