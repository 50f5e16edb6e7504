"""Photos in object storage, through boto3 and the S3 API only.

Locally the endpoint is a real S3-API server on loopback; in production it is S3. The
code path is the same: only ``S3_ENDPOINT_URL`` differs.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator
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
        # presigned URLs name the endpoint the phones reach (S3 itself, or a public address
        # of the S3-API server in front of a private one); signing needs no connection
        self._public = self._client if not settings.s3_public_endpoint_url else boto3.client(
            "s3", endpoint_url=settings.s3_public_endpoint_url, region_name=settings.s3_region,
            aws_access_key_id=settings.aws_access_key_id or None,
            aws_secret_access_key=settings.aws_secret_access_key or None,
            config=Config(signature_version="s3v4"))

    def presign_put(self, key: str, content_type: str, size: int, sha256_hex: str, ttl_s: int) -> tuple[str, dict]:
        """A URL the client PUTs one photo to, and the headers it must send (they are signed).

        Where the S3 server checks them (AWS does), the object can only be this size, type
        and SHA-256; ``upload_check`` verifies the same either way.
        """
        checksum = base64.b64encode(bytes.fromhex(sha256_hex)).decode()
        url = self._public.generate_presigned_url(
            "put_object", ExpiresIn=ttl_s,
            Params={"Bucket": self.bucket, "Key": key, "ContentType": content_type, "ContentLength": size,
                    "ChecksumSHA256": checksum})
        return url, {"Content-Type": content_type, "x-amz-checksum-sha256": checksum}

    def head(self, key: str) -> dict | None:
        """Size, type and (where the server keeps one) SHA-256 of an object; None if it is not there."""
        try:
            found = self._client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        checksum = found.get("ChecksumSHA256")
        return {"size": found["ContentLength"], "content_type": found.get("ContentType", ""),
                "sha256": base64.b64decode(checksum).hex() if checksum and "-" not in checksum else None}

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

    def get_prefix(self, key: str, size: int) -> bytes:
        """The first ``size`` bytes of an object (a photo's header), without reading the rest."""
        return self._client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{size - 1}")["Body"].read()

    def get_many(self, keys: Iterable[str]) -> list[bytes | Exception]:
        """Fetch several photos concurrently; a failed fetch is returned, not raised."""
        return list(self.iter_many(keys))

    def iter_many(self, keys: Iterable[str]) -> Iterator[bytes | Exception]:
        """Fetch several photos concurrently, yielding each in order as soon as it is in.

        The worker detects the first photo of a batch while the others still download (a
        failed fetch is yielded, not raised).
        """

        def one(key: str) -> bytes | Exception:
            try:
                return self.get(key)
            except Exception as exc:  # noqa: BLE001 - one bad photo must not sink the batch
                return exc

        keys = list(keys)
        if len(keys) <= 1:
            yield from (one(k) for k in keys)
            return
        with ThreadPoolExecutor(min(self._fetch_threads, len(keys))) as pool:
            yield from pool.map(one, keys)
