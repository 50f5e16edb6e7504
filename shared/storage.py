"""Photos in object storage, through boto3 and the S3 API only.

Locally the endpoint is a real S3-API server on loopback; in production it is S3. The
code path is the same: only ``S3_ENDPOINT_URL`` differs.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from shared.settings import Settings

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


class PhotoStore:
    def __init__(self, settings: Settings, bucket: str | None = None):
        self.bucket = bucket or settings.s3_bucket
        self._fetch_threads = settings.s3_fetch_threads
        self._client = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url or None,
            region_name=settings.s3_region,
            aws_access_key_id=settings.aws_access_key_id or None,
            aws_secret_access_key=settings.aws_secret_access_key or None,
            config=Config(max_pool_connections=settings.s3_max_pool, retries={"mode": "standard"}),
        )

    @staticmethod
    def key_for(tenant_id: str, store_id: str, day: datetime, job_id: str, content_type: str = "image/jpeg") -> str:
        """``tenant/store/YYYY/MM/DD/job.ext``, the extension of the photo's real format."""
        return f"{tenant_id}/{store_id}/{day:%Y/%m/%d}/{job_id}.{EXTENSIONS.get(content_type, 'bin')}"

    def ensure_bucket(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self._client.create_bucket(Bucket=self.bucket)

    def ping(self) -> None:
        self._client.head_bucket(Bucket=self.bucket)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix`` (all pages)."""
        keys: list[str] = []
        for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            keys += [obj["Key"] for obj in page.get("Contents", [])]
        return keys

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self.bucket, Key=key)

    def get(self, key: str) -> bytes:
        return self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def get_many(self, keys: Iterable[str]) -> list[bytes | Exception]:
        """Fetch several photos concurrently; a failed fetch is returned, not raised."""

        def one(key: str) -> bytes | Exception:
            try:
                return self.get(key)
            except Exception as exc:  # noqa: BLE001 - one bad photo must not sink the batch
                return exc

        keys = list(keys)
        if len(keys) <= 1:
            return [one(k) for k in keys]
        with ThreadPoolExecutor(min(self._fetch_threads, len(keys))) as pool:
            return list(pool.map(one, keys))
