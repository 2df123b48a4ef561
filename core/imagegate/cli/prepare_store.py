"""``imagegate prepare-store``: the S3 bucket of ``server.image_store``, created if missing, with its lifecycle rule."""

from __future__ import annotations

import sys
import time

from ..config import RoutesError
from .routes_file import load_table


def prepare_store(path: str, wait_seconds: float) -> int:
    """Run once per deployment (a compose service, a Kubernetes Job), with credentials allowed to create
    buckets and set lifecycle rules; the gateway then needs only object rights."""
    from ..store.s3 import apply_lifecycle_rule, create_bucket_if_missing

    try:
        table, _ = load_table(path)
    except RoutesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    store = table.server.image_store
    if store.s3 is None:
        print(f"the image store is the local directory {store.directory}: nothing to prepare")
        return 0
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            created = create_bucket_if_missing(store.s3)
            break
        except Exception as error:  # botocore's errors: the store is not up yet, or refuses
            if time.monotonic() >= deadline:
                print(f"error: bucket {store.s3.bucket}: {error}", file=sys.stderr)
                return 1
            time.sleep(1)
    print(f"bucket {store.s3.bucket}: {'created' if created else 'exists'}")
    if not apply_lifecycle_rule(store.s3, store.ttl_seconds):
        print("lifecycle rule: not set (see the warning above); the gateways' own cleanup expires images")
        return 0
    print(
        f"lifecycle rule: objects under {store.s3.prefix!r} expire after the TTL ({store.ttl_seconds} s, in whole days)"
    )
    return 0
