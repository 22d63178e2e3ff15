"""Object storage for the api: uploads of input files and presigned download URLs.

The only module of the api that touches boto3. Presigned URLs are minted
against S3_PUBLIC_ENDPOINT_URL, the address clients can reach.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from functools import cache

from django.conf import settings

# Minting a presigned URL is pure CPU (botocore signs it), and poll mints one per output file: a URL
# is reused while at least two thirds of its lifetime remain, so hot polls sign each file once.
REUSE_FRACTION = 1 / 3
MAX_REUSED_URLS = 10_000
_urls_lock = threading.Lock()
_urls: OrderedDict[tuple[str, str, str, int], tuple[str, float]] = OrderedDict()


def _client(endpoint: str):  # boto3 clients are untyped
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=settings.S3_ACCESS_KEY,
        aws_secret_access_key=settings.S3_SECRET_KEY,
        region_name=settings.S3_REGION,
        config=Config(signature_version="s3v4", retries={"max_attempts": 5, "mode": "standard"}),
    )


@cache
def internal_client():
    return _client(settings.S3_ENDPOINT_URL)


@cache
def public_client():
    return _client(settings.S3_PUBLIC_ENDPOINT_URL)


def object_put(*, key: str, data: bytes, content_type: str) -> None:
    internal_client().put_object(Bucket=settings.S3_BUCKET, Key=key, Body=data, ContentType=content_type)


def object_presigned_url(*, key: str, expires_in: int | None = None) -> str:
    """A download URL valid at least two thirds of `expires_in` (default S3_PRESIGN_SECONDS) from now."""
    lifetime = expires_in or settings.S3_PRESIGN_SECONDS
    now = time.monotonic()
    slot = (settings.S3_PUBLIC_ENDPOINT_URL, settings.S3_BUCKET, key, lifetime)
    with _urls_lock:
        found = _urls.get(slot)
        if found is not None and now - found[1] <= lifetime * REUSE_FRACTION:
            _urls.move_to_end(slot)
            return found[0]
    url = public_client().generate_presigned_url(
        "get_object", Params={"Bucket": settings.S3_BUCKET, "Key": key}, ExpiresIn=lifetime
    )
    with _urls_lock:
        _urls[slot] = (url, now)
        _urls.move_to_end(slot)
        while len(_urls) > MAX_REUSED_URLS:
            _urls.popitem(last=False)
    return url


def bucket_ensure() -> bool:
    """Create the bucket if missing; True if it was created."""
    client = internal_client()
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if settings.S3_BUCKET in existing:
        return False
    client.create_bucket(Bucket=settings.S3_BUCKET)
    return True
