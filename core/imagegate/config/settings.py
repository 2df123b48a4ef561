"""The typed settings of routes.yaml: the ``server:`` section, and the timeouts, retry and cooldown settings that
accounts, targets and models also carry."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

NonNegative = Annotated[float, msgspec.Meta(ge=0)]
Positive = Annotated[float, msgspec.Meta(gt=0)]
MEGABYTE = 1024 * 1024

PRESIGNED_MAX_SECONDS = 7 * 24 * 3600  # the longest a SigV4 presigned URL may live


class Timeout(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    connect: float = 10.0
    total: float = 300.0  # image calls are long; most gateways' 60 s default cuts them off


class RetrySettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How one upstream call is retried on the same target (docs/routing.md)."""

    max_attempts: Annotated[int, msgspec.Meta(ge=1)] = 3  # per call and target, the first included
    backoff_seconds: NonNegative = 0.5  # before the first retry; doubles after each, with jitter
    max_backoff_seconds: NonNegative = 8.0
    max_retry_after_seconds: NonNegative = 30.0  # an upstream asking to wait longer is not retried
    deadline_seconds: Positive = 540.0  # the whole request, every attempt and fallback included
    # No attempt starts with less of the deadline left; unset: 1 s, or a tenth of the deadline if shorter.
    min_attempt_seconds: NonNegative | None = None

    @property
    def min_attempt(self) -> float:
        if self.min_attempt_seconds is not None:
            return self.min_attempt_seconds
        return min(1.0, self.deadline_seconds / 10)


class CooldownSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Circuit breaking per target: ``failures`` within ``window_seconds`` skip it for ``duration_seconds``."""

    failures: Annotated[int, msgspec.Meta(ge=0)] = 3  # 0 turns cooldown off
    window_seconds: Positive = 60.0
    duration_seconds: NonNegative = 30.0


class S3Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An S3-compatible bucket for hosted images, shared by every replica (docs/replicas.md)."""

    bucket: str
    endpoint_url: str | None = None  # absent: AWS S3 in ``region``
    region: str = "us-east-1"
    # Both absent: the credentials the environment provides (AWS_ACCESS_KEY_ID..., a web identity token).
    access_key_id: str | None = None
    secret_access_key: str | None = None
    prefix: str = "hosted/"  # object keys start with it; the lifecycle rule covers only this prefix


class StoreSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    directory: str = "var/images"  # the local store, used when ``s3`` is absent
    s3: S3Settings | None = None
    ttl_seconds: Annotated[int, msgspec.Meta(gt=0)] = 3600
    cleanup_interval_seconds: Annotated[int, msgspec.Meta(gt=0)] = 60
    # presigned: clients fetch from the bucket; gateway: /v1/images/hosted/{name} on any replica.
    # Absent: presigned with s3, gateway with the local directory.
    urls: Literal["presigned", "gateway"] | None = None

    @property
    def url_mode(self) -> Literal["presigned", "gateway"]:
        return self.urls or ("presigned" if self.s3 is not None else "gateway")


class SharedStateSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """State shared by every replica in Redis (docs/replicas.md); absent: each process keeps its own."""

    redis_url: str
    key_prefix: str = "imagegate:"
    # A Redis call slower than this counts as an error and the process's own state answers instead.
    timeout_seconds: Positive = 0.25
    # While Redis fails: allow (fail open, the default) or deny requests whose budget cannot be checked.
    budget_on_state_error: Literal["allow", "deny"] = "allow"


class ImageUrlSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Images a JSON edit references by http(s) URL, fetched by the gateway (at most ``download_max_mb``)."""

    enabled: bool = True
    allow_private_networks: bool = False  # loopback, private ranges, link-local (cloud metadata) stay off
    timeout_seconds: Positive = 30.0


class ConnectionSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Limits on what one client connection may hold (per gateway process; imagegate/serving.py).
    ``body_idle_seconds`` and ``body_min_bytes_per_second`` follow reloads; the others take effect when the
    gateway restarts."""

    header_timeout_seconds: Positive = 10.0  # to receive a request's line and headers (else 408, or closed)
    body_idle_seconds: Positive = 30.0  # the longest wait for the next part of a body being read (else 408)
    # Once a body has taken longer than body_idle_seconds, it must have come at least this fast (else 408):
    # a body trickled a byte at a time, each within the idle time, is not held for ever.
    body_min_bytes_per_second: Annotated[float, msgspec.Meta(ge=0)] = 500.0
    keep_alive_seconds: Positive = 5.0  # an idle connection between requests is closed after this
    max_header_kb: Annotated[int, msgspec.Meta(ge=1)] = 32  # request line and headers (else 431)
    max_connections: Annotated[int, msgspec.Meta(ge=1)] = 1000  # open at once; over it: 503, retry-after


class ServerSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    max_body_mb: float = 64.0
    connections: ConnectionSettings = ConnectionSettings()
    # The most pixels an image the gateway decodes may declare (inputs, and upstream results it transcodes);
    # checked from the header before any decoding, and never above Pillow's own limit.
    max_input_pixels: Annotated[int, msgspec.Meta(gt=0)] = 40_000_000
    public_base_url: str | None = None  # the base of hosted image URLs when behind a proxy
    default_model: str | None = None  # used when a request names no model
    max_parallel_calls: int = 4  # upstream calls in flight for one fanned-out request
    download_max_mb: float = 64.0  # size limit when fetching an image by URL (an upstream's or a client's)
    image_urls: ImageUrlSettings = ImageUrlSettings()
    image_store: StoreSettings = StoreSettings()
    shared_state: SharedStateSettings | None = None
    # How often routes.yaml is checked for changes (0: only on SIGHUP).
    reload_check_seconds: NonNegative = 1.0
    retry: RetrySettings = RetrySettings()  # defaults for every model
    # A streamed answer sends a comment line after this long without an event (keeps proxies from timing out).
    stream_keepalive_seconds: Positive = 15.0
    cooldown: CooldownSettings = CooldownSettings()
    # Guards /metrics, /readyz details and /admin/*; unset: those answer loopback clients only.
    admin_key: str | None = None

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * MEGABYTE)

    @property
    def download_max_bytes(self) -> int:
        return int(self.download_max_mb * MEGABYTE)
