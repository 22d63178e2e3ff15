"""Idempotency-Key for POSTs: the first response is stored and replayed, byte for byte, for 24 hours.

A claim row (tenant, key) is inserted and committed before the handler runs,
so a concurrent repeat sees it and gets 409. The handler and the storing of
its response run in one transaction: if the process dies in between,
nothing the handler created survives, and the stale claim can be taken over.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import cast

from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.http import HttpResponse, QueryDict
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from api_service.accounts.models import IdempotencyRecord, Tenant
from api_service.core.errors import ApiError, request_too_large
from api_service.http.parsers import InvalidJson, JsonTooDeep, json_loads_bounded

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
KEEP_FOR = timedelta(hours=24)
# A claim older than this belongs to a request that died: its transaction rolled back.
CLAIM_LEASE = timedelta(seconds=60)
REPLAYED_HEADERS = ("Location",)


class Replay(Exception):
    """Raised to answer with the stored response instead of running the handler."""

    def __init__(self, response: HttpResponse) -> None:
        super().__init__("replay")
        self.response = response


def fingerprint(request: Request) -> str:
    """What makes two requests "the same": method, path and content, not their encoding details."""
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.path}\n".encode())
    media_type = request.content_type.split(";")[0].strip().lower()
    try:
        if media_type == "multipart/form-data":
            # Each client picks a random boundary: compare the fields and the files' bytes instead.
            form = cast(QueryDict, request.data)
            for name in sorted(form.keys()):
                for value in form.getlist(name):
                    if isinstance(value, UploadedFile):
                        digest.update(f"{name}=file:{value.name}:".encode())
                        for chunk in value.chunks():
                            digest.update(chunk)
                        value.seek(0)
                    else:
                        digest.update(f"{name}={value}\n".encode())
            return digest.hexdigest()
        body = request._request.body
    except RequestDataTooBig:
        raise request_too_large() from None
    try:
        # JSON bodies compare by content, so re-serialising with other spacing or key order still matches.
        body = json.dumps(json_loads_bounded(body), sort_keys=True, separators=(",", ":")).encode()
    except JsonTooDeep:
        raise  # refused whatever the handler: a 400 now, before any claim is stored
    except InvalidJson:
        pass  # not JSON (or no body): compared byte for byte
    digest.update(media_type.encode() + b"\n" + body)
    return digest.hexdigest()


@dataclass
class Claim:
    record: IdempotencyRecord

    def run(self, handler: Callable[[], Response | HttpResponse]) -> HttpResponse:
        """Run the handler and store its answer atomically; 5xx and exceptions release the claim."""
        try:
            with transaction.atomic():
                response = handler()
                if response.status_code >= 500:
                    raise _Release(response)
                stored = _freeze(response)
                updated = IdempotencyRecord.objects.filter(
                    pk=self.record.pk, locked_at=self.record.locked_at
                ).update(
                    locked_at=None,
                    status_code=stored.status_code,
                    body=stored.content,
                    headers={h: stored[h] for h in ("Content-Type", *REPLAYED_HEADERS) if h in stored},
                )
                if not updated:
                    raise ApiError(
                        "This Idempotency-Key was taken over by a retry; retry this request too.",
                        type="idempotency_conflict",
                        status=409,
                        headers={"Retry-After": "1"},
                    )
                return stored
        except _Release as release:
            self.release()
            return release.response
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        # Only our own claim: a retry may have taken it over after the lease ran out.
        IdempotencyRecord.objects.filter(
            pk=self.record.pk, status_code__isnull=True, locked_at=self.record.locked_at
        ).delete()


class _Release(Exception):
    def __init__(self, response: HttpResponse) -> None:
        super().__init__("release")
        self.response = response


def idempotency_claim(*, request: Request, tenant: Tenant) -> Claim | None:
    """None when the request carries no key; raises Replay or a 4xx ApiError when it must not run."""
    key = request.headers.get(HEADER)
    if key is None or request.method != "POST":
        return None
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise ApiError(
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters (got {len(key)}).",
            type="invalid_idempotency_key",
        )
    print_ = fingerprint(request)
    now = timezone.now()
    for _ in range(3):
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    tenant=tenant, key=key, fingerprint=print_, locked_at=now, expires_at=now + KEEP_FOR
                )
            return Claim(record)
        except IntegrityError:
            pass
        existing = IdempotencyRecord.objects.filter(tenant=tenant, key=key).first()
        if existing is None:
            continue  # released or purged meanwhile: claim again
        if existing.expires_at <= now:
            IdempotencyRecord.objects.filter(pk=existing.pk, expires_at__lte=now).delete()
            continue
        if existing.fingerprint != print_:
            raise ApiError(
                f"This {HEADER} was already used with a different request; use a new key for a new request.",
                type="idempotency_key_reused",
                status=422,
            )
        if existing.status_code is not None:
            raise Replay(_replay(existing))
        if existing.locked_at and existing.locked_at < now - CLAIM_LEASE:
            taken = IdempotencyRecord.objects.filter(pk=existing.pk, locked_at=existing.locked_at).update(
                locked_at=now
            )
            if taken:
                existing.locked_at = now
                return Claim(existing)
        raise ApiError(
            "A request with this Idempotency-Key is still being processed; retry shortly.",
            type="idempotency_in_progress",
            status=409,
            headers={"Retry-After": "1"},
        )
    raise ApiError("Could not claim the Idempotency-Key; retry.", type="idempotency_in_progress", status=409)


def _freeze(response: Response | HttpResponse) -> HttpResponse:
    """The exact bytes the client gets, so a replay can repeat them."""
    if isinstance(response, Response):
        content = JSONRenderer().render(response.data) if response.data is not None else b""
        frozen = HttpResponse(content, status=response.status_code, content_type="application/json")
        for name, value in response.headers.items():
            if name.lower() not in ("content-type", "content-length"):
                frozen[name] = value
        return frozen
    return response


def _replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(bytes(record.body or b""), status=record.status_code)
    for name, value in record.headers.items():
        response[name] = value
    response["Idempotent-Replayed"] = "true"
    return response


def idempotency_purge_expired() -> int:
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
