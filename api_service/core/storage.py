"""Object storage for the api: uploads of input files and presigned download URLs.

The only module of the api that touches boto3. Presigned URLs are minted
against S3_PUBLIC_ENDPOINT_URL, the address clients can reach.
"""

from __future__ import annotations

from functools import cache

from django.conf import settings


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
    return public_client().generate_presigned_url(
        "get_object",
        Params={"Bucket": settings.S3_BUCKET, "Key": key},
        ExpiresIn=expires_in or settings.S3_PRESIGN_SECONDS,
    )


def bucket_ensure() -> bool:
    """Create the bucket if missing; True if it was created."""
    client = internal_client()
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if settings.S3_BUCKET in existing:
        return False
    client.create_bucket(Bucket=settings.S3_BUCKET)
    return True
