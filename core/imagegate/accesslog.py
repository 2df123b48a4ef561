"""One JSON line per image request on the ``imagegate.access`` logger.

:class:`AccessLogMiddleware` opens a :class:`RequestRecord` for each ``POST /v1/images/...``; the
gateway and the router fill it in (client model, route, every attempt and skipped target): the endpoint
takes it from the request state (:func:`record_for`) and hands it down. The middleware writes it when the
request ends (for a streamed answer, when the stream ends, with a ``stream`` record: time to first event,
events sent, how it ended). The line holds no secrets: no headers, no upstream URLs, no prompts, no error
messages (only codes). It does hold the end-user id a client sends (``safety_identifier`` or ``user``), which
OpenAI asks to be a hash.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ACCESS_LOGGER = "imagegate.access"
LOGGED_PATH_PREFIX = "/v1/images/"
CLIENT_GONE = 499  # the status logged for a client that left before its request was read (as nginx logs it)


class AttemptRecord(msgspec.Struct, kw_only=True):
    target: str  # account/upstream_model
    call: int  # which call of a fan-out
    attempt: int  # 1 for the first try of this call on this target
    status: int | None = None  # the upstream's HTTP status (the last one, for multi-step providers)
    latency_ms: int = 0
    outcome: str = "pending"  # "ok" or the error code
    retry_in_ms: int | None = None  # the wait before the next attempt, when this one is retried


class SkippedTarget(msgspec.Struct, kw_only=True):
    target: str
    reason: str  # the error code that made the gateway pass it by


class StreamRecord(msgspec.Struct, kw_only=True):
    """How a streamed answer went (``stream=true``)."""

    first_event_ms: int | None = None  # from the request's arrival to its first image event on the wire
    events: int = 0  # image events sent (partial and completed)
    partial_images: int = 0  # of which previews
    keepalives: int = 0  # comment lines sent while nothing was ready
    outcome: str = "pending"  # "completed", the error code of an error event, or "disconnected"


class RequestLine(msgspec.Struct, kw_only=True, omit_defaults=True):
    time: str
    request_id: str
    method: str
    path: str
    client: str | None  # the client's name from routes.yaml (never its key); None without client auth
    model: str | None
    route: str | None  # the model the request was served as (differs from ``model`` for an alias)
    end_user: str | None  # the client's safety_identifier (or user), whether or not an upstream took it
    status: int
    outcome: str  # "success", "error", or "disconnected" (a stream, or a request, the client left)
    error: str | None
    latency_ms: int
    images: int  # images the upstream calls produced (and were paid for), kept or not
    cost_usd: float  # what they cost, from the targets' prices
    attempts: list[AttemptRecord]
    skipped: list[SkippedTarget]
    stream: StreamRecord | None = None  # streamed answers only


@dataclass(slots=True)
class RequestRecord:
    request_id: str = ""
    client: str | None = None
    model: str | None = None
    route: str | None = None
    end_user: str | None = None
    error: str | None = None
    images: int = 0
    cost_usd: float = 0.0
    attempts: list[AttemptRecord] = field(default_factory=list)
    skipped: list[SkippedTarget] = field(default_factory=list)
    stream: StreamRecord | None = None
    started: float = field(default_factory=time.perf_counter)

    def attempt(self, target: str, call: int, attempt: int) -> AttemptRecord:
        record = AttemptRecord(target=target, call=call, attempt=attempt)
        self.attempts.append(record)
        return record

    def skip(self, target: str, reason: str) -> None:
        self.skipped.append(SkippedTarget(target=target, reason=reason))


RECORD_STATE_KEY = "access_record"


def record_for(state: Any) -> RequestRecord:
    """The record of the request whose ``request.state`` this is; a detached one (never logged) for requests
    the middleware does not log."""
    return getattr(state, RECORD_STATE_KEY, None) or RequestRecord()


def _is_image_request(scope: Scope) -> bool:
    return (
        scope["type"] == "http" and scope["method"] == "POST" and scope["path"].startswith(LOGGED_PATH_PREFIX)
    )


class AccessLogMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        logger: logging.Logger | None = None,
        observe: Callable[[RequestLine], None] | None = None,
    ) -> None:
        self.app = app
        self.logger = logger or logging.getLogger(ACCESS_LOGGER)
        self.observe = observe  # also handed each finished line (metrics)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _is_image_request(scope):
            await self.app(scope, receive, send)
            return
        record = RequestRecord(request_id=scope.get("state", {}).get("request_id", ""))
        scope.setdefault("state", {})[RECORD_STATE_KEY] = record
        started = record.started
        status = 500  # unless a response starts

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        except ClientDisconnect:
            status = CLIENT_GONE
            raise
        finally:
            self._write(record, scope, status, time.perf_counter() - started)

    def _write(self, record: RequestRecord, scope: Scope, status: int, elapsed: float) -> None:
        outcome, error = ("success", None) if status < 400 else ("error", record.error)
        if status == CLIENT_GONE:
            outcome, error = "disconnected", None
        if status < 400 and record.stream is not None and record.stream.outcome != "completed":
            # A stream answers 200 before it knows how it ends: its own outcome tells.
            outcome = "disconnected" if record.stream.outcome == "disconnected" else "error"
            error = None if outcome == "disconnected" else record.stream.outcome
        line = RequestLine(
            time=datetime.now(UTC).isoformat(timespec="milliseconds"),
            request_id=record.request_id,
            method=scope["method"],
            path=scope["path"],
            client=record.client,
            model=record.model,
            route=record.route,
            end_user=record.end_user,
            status=status,
            outcome=outcome,
            error=error,
            latency_ms=round(elapsed * 1000),
            images=record.images,
            cost_usd=round(record.cost_usd, 6),
            attempts=record.attempts,
            skipped=record.skipped,
            stream=record.stream,
        )
        if self.observe is not None:
            self.observe(line)
        if self.logger.isEnabledFor(logging.INFO):
            self.logger.info(msgspec.json.encode(line).decode())
