"""Prometheus metrics at ``/metrics``, fed by the access-log lines (one registry per app).

Labels stay bounded: ``model`` is the routed model id from routes.yaml (``-`` when the request named none that
exists), ``target`` is ``account/upstream_model``, ``outcome`` is ``ok`` or an error code of the gateway's,
``client`` is a client's name from routes.yaml (never a key; ``-`` without client authentication).

Under ``imagegate serve --workers N`` every worker process counts in files under ``PROMETHEUS_MULTIPROC_DIR``
(set by ``serve``; prometheus-client's multiprocess mode) and ``/metrics``, whichever worker answers it,
reports the sum over all workers.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import Response

from .accesslog import RequestLine

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"  # set by ``imagegate serve --workers N``
SECONDS_BUCKETS = (0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600)  # image calls take seconds to minutes


class Metrics:
    def __init__(self, multiprocess_dir: str | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "imagegate_requests",
            "Image requests answered, by routed model and HTTP status.",
            ["model", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "imagegate_request_duration_seconds",
            "Time to answer an image request.",
            ["model"],
            buckets=SECONDS_BUCKETS,
            registry=self.registry,
        )
        self.attempts = Counter(
            "imagegate_upstream_attempts",
            "Upstream call attempts, by target and outcome.",
            ["target", "outcome"],
            registry=self.registry,
        )
        self.attempt_seconds = Histogram(
            "imagegate_upstream_attempt_duration_seconds",
            "Time of one upstream call attempt.",
            ["target"],
            buckets=SECONDS_BUCKETS,
            registry=self.registry,
        )
        self.images = Counter(
            "imagegate_images",
            "Images produced by upstream calls (and paid for), by client and routed model.",
            ["client", "model"],
            registry=self.registry,
        )
        self.cost = Counter(
            "imagegate_cost_usd",
            "What those images cost in USD, from the targets' prices, by client and routed model.",
            ["client", "model"],
            registry=self.registry,
        )
        self.skips = Counter(
            "imagegate_targets_passed_by",
            "Targets passed by without a call (cooling down, account not configured).",
            ["target", "reason"],
            registry=self.registry,
        )
        self.shared_state_errors = Counter(
            "imagegate_shared_state_errors",
            "Calls to the shared state (Redis) that failed or timed out; this process's state answered.",
            ["operation"],
            registry=self.registry,
        )
        self.stream_first_event_seconds = Histogram(
            "imagegate_stream_first_event_seconds",
            "Time from a streamed request's arrival to its first image event.",
            ["model"],
            buckets=(0.05, 0.1, *SECONDS_BUCKETS),
            registry=self.registry,
        )
        self.stream_events = Counter(
            "imagegate_stream_events",
            "What streamed answers sent: partial_image and completed events, keepalive comments.",
            ["model", "kind"],
            registry=self.registry,
        )
        self.streams = Counter(
            "imagegate_streams",
            "Streamed answers, by how they ended: completed, disconnected, or the error code.",
            ["model", "outcome"],
            registry=self.registry,
        )

    def count_shared_state_error(self, operation: str) -> None:
        self.shared_state_errors.labels(operation).inc()

    def observe(self, line: RequestLine) -> None:
        model = line.route or "-"
        self.requests.labels(model, str(line.status)).inc()
        self.request_seconds.labels(model).observe(line.latency_ms / 1000)
        for attempt in line.attempts:
            self.attempts.labels(attempt.target, attempt.outcome).inc()
            self.attempt_seconds.labels(attempt.target).observe(attempt.latency_ms / 1000)
        for skipped in line.skipped:
            self.skips.labels(skipped.target, skipped.reason).inc()
        if line.images or line.cost_usd:
            client = line.client or "-"
            self.images.labels(client, model).inc(line.images)
            self.cost.labels(client, model).inc(line.cost_usd)
        stream = line.stream
        if stream is not None:
            self.streams.labels(model, stream.outcome).inc()
            if stream.first_event_ms is not None:
                self.stream_first_event_seconds.labels(model).observe(stream.first_event_ms / 1000)
            for kind, count in (
                ("partial_image", stream.partial_images),
                ("completed", stream.events - stream.partial_images),
                ("keepalive", stream.keepalives),
            ):
                if count:
                    self.stream_events.labels(model, kind).inc(count)

    async def endpoint(self, request: Request) -> Response:
        registry = self.registry
        if self.multiprocess_dir is not None:  # every worker's counts, read from their files
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=self.multiprocess_dir)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
