"""Object storage for the gpu worker: the only module here that touches boto3."""

from __future__ import annotations

from functools import cached_property

from gpu_worker.config import WorkerConfig


class ArtifactStorage:
    def __init__(self, config: WorkerConfig) -> None:
        self._config = config

    @cached_property
    def _client(self):  # boto3 clients are untyped
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self._config.s3_endpoint_url,
            aws_access_key_id=self._config.s3_access_key,
            aws_secret_access_key=self._config.s3_secret_key,
            region_name=self._config.s3_region,
            config=Config(
                signature_version="s3v4",
                retries={"max_attempts": 5, "mode": "standard"},
            ),
        )

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._client.put_object(Bucket=self._config.s3_bucket, Key=key, Body=data, ContentType=content_type)

    def copy(self, source_key: str, key: str) -> None:
        """A server-side copy within the bucket (no bytes pass through the worker)."""
        bucket = self._config.s3_bucket
        self._client.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": source_key})

    def get(self, key: str) -> bytes:
        response = self._client.get_object(Bucket=self._config.s3_bucket, Key=key)
        return response["Body"].read()
