"""Hosted images in an S3-compatible bucket, shared by every replica, through obstore.

obstore was chosen over aiobotocore by measurement (``python -m bench.s3_clients``: about half the CPU per
4 MiB put and less per get; figures in bench/README.md). Clients fetch an image from a URL presigned for the
store's TTL, or through ``/v1/images/hosted/{name}`` on any replica (``urls: gateway``).

Expiry: each object lives ``ttl_seconds`` after it was written (its ``Last-Modified``); the gateway answers
404 after that and :meth:`S3ImageStore.cleanup` deletes it. At start the store also sets a lifecycle rule on
the bucket for its prefix (expire after the TTL rounded up to whole days, the rules' unit), merged into the
bucket's other rules, when the store supports it and the credentials allow it; obstore has no bucket API, so
this one call goes through botocore.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import obstore
from obstore.store import S3Store

from ..config import S3Settings, StoreSettings
from . import ImageStoreUnavailable, StoredImage, StoreStatus, content_type_of, new_name

log = logging.getLogger("imagegate")


def lifecycle_rule_id(prefix: str) -> str:
    """One rule per prefix, so gateways sharing a bucket under different prefixes keep each other's rules."""
    return f"imagegate-hosted:{prefix}"[:255]


CHUNK_BYTES = 1024 * 1024
DELETE_BATCH = 1000  # the most objects one DeleteObjects request takes


class S3ImageStore:
    def __init__(self, settings: StoreSettings, clock: Callable[[], float] = time.time) -> None:
        assert settings.s3 is not None
        self.settings = settings.s3
        self.ttl = settings.ttl_seconds
        self.presigned = settings.url_mode == "presigned"
        self._now = clock
        self._lifecycle: asyncio.Task[bool] | None = None
        self._store = S3Store(
            self.settings.bucket, prefix=self.settings.prefix or None, **_s3_options(self.settings)
        )

    async def start(self) -> None:
        # In the background: a store that is slow to answer must not hold up the gateway's start.
        self._lifecycle = asyncio.create_task(
            asyncio.to_thread(apply_lifecycle_rule, self.settings, self.ttl)
        )

    async def put(self, data: bytes, fmt: str) -> str:
        name = new_name(fmt)
        attributes = {"Content-Type": content_type_of(name) or "application/octet-stream"}
        try:
            await self._store.put_async(name, data, attributes=attributes)
        except Exception as error:
            raise ImageStoreUnavailable.after(error, "storing an image") from None
        return name

    async def url(self, name: str, gateway_url: str) -> str:
        if not self.presigned:
            return gateway_url
        return await obstore.sign_async(self._store, "GET", name, timedelta(seconds=self.ttl))

    async def get(self, name: str) -> StoredImage | None:
        content_type = content_type_of(name)
        if content_type is None:
            return None
        try:
            result = await self._store.get_async(name)
        except FileNotFoundError:
            return None
        except Exception as error:
            raise ImageStoreUnavailable.after(error, "reading an image") from None
        meta = result.meta
        expires_at = meta["last_modified"].timestamp() + self.ttl
        if self._now() >= expires_at:
            await self._delete([name])
            return None
        stored_type = result.attributes.get("Content-Type")
        return StoredImage(
            content_type=stored_type if isinstance(stored_type, str) else content_type,
            size=meta["size"],
            expires_at=expires_at,
            chunks=_stream(result),
        )

    async def cleanup(self) -> int:
        """Delete expired images under the prefix (only names this store gives out, so other objects in a
        shared bucket are never touched)."""
        cutoff = self._now() - self.ttl
        expired: list[str] = []
        try:
            async for batch in self._store.list(chunk_size=1000):
                expired.extend(
                    meta["path"]
                    for meta in batch
                    if content_type_of(meta["path"]) is not None
                    and meta["last_modified"].timestamp() <= cutoff
                )
        except Exception as error:
            raise ImageStoreUnavailable.after(error, "listing images") from None
        for start in range(0, len(expired), DELETE_BATCH):
            await self._delete(expired[start : start + DELETE_BATCH])
        return len(expired)

    async def _delete(self, names: list[str]) -> None:
        try:
            await self._store.delete_async(names)
        except Exception as error:
            raise ImageStoreUnavailable.after(error, "deleting images") from None

    def status(self) -> StoreStatus:
        return StoreStatus(backend="s3")

    async def close(self) -> None:
        if self._lifecycle is not None:
            self._lifecycle.cancel()


def _s3_options(settings: S3Settings) -> dict[str, Any]:
    options: dict[str, Any] = {
        "region": settings.region,
        # A slow store must not hold requests for long: a few quick retries, then the request fails.
        "client_options": {
            "allow_http": (settings.endpoint_url or "").startswith("http://"),
            "connect_timeout": "5s",
            "timeout": "60s",
        },
        "retry_config": {
            "max_retries": 2,
            "retry_timeout": timedelta(seconds=30),
            "backoff": {
                "init_backoff": timedelta(milliseconds=100),
                "max_backoff": timedelta(seconds=2),
                "base": 2,
            },
        },
    }
    if settings.endpoint_url:
        options["endpoint"] = settings.endpoint_url
    if settings.access_key_id is not None:
        options["access_key_id"] = settings.access_key_id
        options["secret_access_key"] = settings.secret_access_key
    return options


async def _stream(result: Any) -> AsyncIterator[memoryview]:
    async for chunk in result.stream(min_chunk_size=CHUNK_BYTES):
        yield memoryview(chunk)


def _admin_client(settings: S3Settings) -> Any:
    """A botocore client for the bucket-level calls obstore does not make (imported only when needed)."""
    import botocore.session
    from botocore.config import Config

    return botocore.session.get_session().create_client(
        "s3",
        endpoint_url=settings.endpoint_url,
        region_name=settings.region,
        aws_access_key_id=settings.access_key_id,
        aws_secret_access_key=settings.secret_access_key,
        config=Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 2}),
    )


def create_bucket_if_missing(settings: S3Settings) -> bool:
    """Create the bucket unless it exists; whether it was created. Errors (the store is down, the
    credentials may not) are raised: this is what ``imagegate prepare-store`` runs, once, with rights the
    gateway itself does not need."""
    from botocore.exceptions import ClientError

    client = _admin_client(settings)
    try:
        client.head_bucket(Bucket=settings.bucket)
        return False
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
        options = {}
        if settings.region != "us-east-1":
            options["CreateBucketConfiguration"] = {"LocationConstraint": settings.region}
        client.create_bucket(Bucket=settings.bucket, **options)
        return True
    finally:
        client.close()


def apply_lifecycle_rule(settings: S3Settings, ttl_seconds: int) -> bool:
    """Make the bucket expire objects under the prefix after the TTL (whole days), keeping its other rules.
    Returns whether the rule is in place; a store or credentials that refuse are logged, not raised: the
    gateway's own cleanup still removes expired images."""
    if not settings.prefix:
        log.info("image store: no prefix, so no lifecycle rule (it would cover the whole bucket)")
        return False
    from botocore.exceptions import BotoCoreError, ClientError

    client = _admin_client(settings)
    rule = {
        "ID": lifecycle_rule_id(settings.prefix),
        "Status": "Enabled",
        "Filter": {"Prefix": settings.prefix},
        "Expiration": {"Days": max(1, math.ceil(ttl_seconds / 86400))},
    }
    try:
        try:
            rules = client.get_bucket_lifecycle_configuration(Bucket=settings.bucket)["Rules"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "NoSuchLifecycleConfiguration":
                raise
            rules = []
        if rule not in rules:
            others = [existing for existing in rules if existing.get("ID") != rule["ID"]]
            client.put_bucket_lifecycle_configuration(
                Bucket=settings.bucket, LifecycleConfiguration={"Rules": [*others, rule]}
            )
    except (BotoCoreError, ClientError) as error:
        log.warning(
            "image store: the bucket's lifecycle rule was not set (%s); the gateway's own cleanup removes "
            "expired images",
            error,
        )
        return False
    finally:
        client.close()
    return True
