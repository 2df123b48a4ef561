"""One exception tree for everything the gateway can answer with an error.

Each class knows its HTTP status and its OpenAI error ``type``; :meth:`GatewayError.body` renders the
``{"error": {"message", "type", "param", "code"}}`` shape with all four keys present. Providers raise these
from ``parse`` (usually through :func:`upstream_error`), so the core never guesses what an upstream meant.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

# The user:password@ of a URL in free text.
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@'\"]*@")


def without_credentials(text: str) -> str:
    """``text`` with the credentials of every URL in it left out (``https://user:pw@host`` → ``https://host``)."""
    return _URL_CREDENTIALS.sub(r"\1", text) if "@" in text else text


def has_credentials(url: str) -> bool:
    """Whether ``url`` carries a user name or password."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return bool(parts.scheme and parts.netloc and "@" in parts.netloc)


def seconds(value: float) -> str:
    """A duration for a message: whole seconds from 1 s up (2, not 1.99993), one decimal below."""
    return str(round(value)) if value >= 1 else f"{max(value, 0.1):.1f}"


class GatewayError(Exception):
    status: int = 500
    type: str = "server_error"
    default_code: str | None = None
    # Router hints: may the same target be tried again, may the next target be tried?
    retryable: bool = False
    fallback: bool = False

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        headers: dict[str, str] | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code
        self.retry_after = retry_after
        self.headers = dict(headers or {})
        # What the upstream said, for the gateway's log only: it may name internal hosts, accounts or code.
        self.detail = detail

    def body(self) -> dict[str, Any]:
        message = without_credentials(self.message)
        return {"error": {"message": message, "type": self.type, "param": self.param, "code": self.code}}

    def response_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.retry_after is not None:
            headers["retry-after"] = str(max(1, round(self.retry_after)))
            headers["retry-after-ms"] = str(max(0, int(self.retry_after * 1000)))
        return headers


# --- the client's fault (4xx) -------------------------------------------------------------------------


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"


class UnsupportedValue(InvalidRequest):
    """The request is well formed but the routed model cannot honour a parameter value."""

    default_code = "unsupported_value"


class ModelRetired(InvalidRequest):
    """An upstream no longer serves a model its vendor retired; the message names the replacement. Another
    target of the route (a compatible upstream that still serves it) may be tried."""

    default_code = "model_retired"
    fallback = True


class ModelNotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    default_code = "model_not_found"


class NotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    default_code = "not_found"


class MethodNotAllowed(GatewayError):
    status = 405
    type = "invalid_request_error"
    default_code = "method_not_allowed"


class PayloadTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    default_code = "request_too_large"


class RequestTimeout(GatewayError):
    """The client stopped sending its request (headers or body) for longer than the gateway waits."""

    status = 408
    type = "invalid_request_error"
    default_code = "request_timeout"


class HeadersTooLarge(GatewayError):
    status = 431
    type = "invalid_request_error"
    default_code = "request_headers_too_large"


class ServerBusy(GatewayError):
    """More client connections are open than the gateway holds at once."""

    status = 503
    type = "server_error"
    default_code = "server_busy"


class UnsupportedMediaType(GatewayError):
    status = 415
    type = "invalid_request_error"
    default_code = "unsupported_media_type"


class ContentPolicyViolation(InvalidRequest):
    """The upstream refused the prompt or image on safety grounds; the client can rephrase."""

    default_code = "content_policy_violation"


class InvalidApiKey(GatewayError):
    """No key, or one this gateway does not know. The message never repeats the key or names a client."""

    status = 401
    type = "invalid_request_error"
    default_code = "invalid_api_key"


class Forbidden(GatewayError):
    status = 403
    type = "invalid_request_error"
    default_code = "forbidden"


class ModelNotAllowed(Forbidden):
    """The model exists (or might) but the client's key may not use it."""

    default_code = "model_not_allowed"


class ClientRateLimited(GatewayError):
    """The client's key asked for more images per minute than it may; ``retry_after`` says when they fit."""

    status = 429
    type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class InsufficientQuota(GatewayError):
    """The client's budget for the period is spent; retrying cannot help until the period ends."""

    status = 429
    type = "insufficient_quota"
    default_code = "insufficient_quota"

    def response_headers(self) -> dict[str, str]:
        return {**super().response_headers(), "x-should-retry": "false"}


# --- the upstream's or the gateway's trouble (429 / 5xx) ---------------------------------------------


class UpstreamError(GatewayError):
    """An upstream failed in a way that is not the client's fault."""

    status = 502
    type = "upstream_error"
    default_code = "upstream_error"
    retryable = True
    fallback = True


class UpstreamRejected(UpstreamError):
    """The upstream rejected a request as invalid: retrying the same call cannot help."""

    status = 400
    type = "invalid_request_error"
    default_code = "upstream_rejected"
    retryable = False
    fallback = False


class UpstreamNotFound(UpstreamError):
    """The upstream does not know the model or deployment a route names: another target may, a retry cannot."""

    default_code = "upstream_not_found"
    retryable = False


class UpstreamAuthError(UpstreamError):
    """The gateway's own upstream credentials were refused: the operator's problem, not the client's."""

    default_code = "upstream_auth_failed"
    retryable = False


class UpstreamRateLimited(UpstreamError):
    status = 429
    type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class UpstreamBadImage(UpstreamError):
    """The upstream answered 2xx with something that is not the image it claims (checked by the core)."""

    default_code = "upstream_bad_image"


class UpstreamTimeout(UpstreamError):
    status = 504
    default_code = "upstream_timeout"


class UpstreamUnavailable(UpstreamError):
    """No connection could be made, or the upstream answered with a 5xx."""

    status = 502
    default_code = "upstream_unavailable"


class ProviderNotConfigured(GatewayError):
    """A route's account lacks what it needs (for example an unset ``${VAR}`` secret)."""

    status = 503
    type = "server_error"
    default_code = "provider_not_configured"
    fallback = True


def upstream_error(
    status: int,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    retry_after: float | None = None,
) -> GatewayError:
    """Map an upstream HTTP failure to the gateway's error tree by status.

    Providers call this from ``parse`` after recognising their dialect's special cases (content-policy
    blocks above all), passing the upstream's own ``message``, and ``code``/``param`` where it names them.
    The client reads ``message`` where it says what the client can fix (a rejected request, a body too
    large); an upstream's own failure is the operator's matter, so there the client gets the gateway's words
    and ``message`` is kept as the error's ``detail``, which the router logs.

    ===============  ===================================================  =======  ========
    upstream status  error: what the client gets                          retried  fallback
    ===============  ===================================================  =======  ========
    401, 403         UpstreamAuthError: 502 upstream_auth_failed           no       yes
    402              UpstreamAuthError: 502 upstream_payment               no       yes
    404              UpstreamNotFound: 502 upstream_not_found              no       yes
    408, 409, 5xx    UpstreamUnavailable: 502 upstream_unavailable         yes      yes
    413              PayloadTooLarge: 413 request_too_large                no       no
    429              UpstreamRateLimited: 429 rate_limit_exceeded          yes      yes
    any other        UpstreamRejected: 400 ``code`` or upstream_rejected   no       no
    ===============  ===================================================  =======  ========

    ``retry_after`` is how many seconds the upstream asked to wait (its ``Retry-After`` or
    ``retry-after-ms``, or a delay its message names). It is kept on the error: the router waits that long
    before trying the same target again (or gives the target up for this request when it is longer than
    ``retry.max_retry_after_seconds``), and the client's error carries ``retry-after``/``retry-after-ms``.
    Errors that allow fallback also count toward the target's cooldown (docs/routing.md).
    """
    if status in (401, 403):
        return UpstreamAuthError(
            f"The upstream refused the gateway's credentials (HTTP {status}); the operator must fix the account.",
            detail=message,
        )
    if status == 402:
        return UpstreamAuthError(
            "The upstream account has no credit left (HTTP 402).", code="upstream_payment", detail=message
        )
    if status == 429:
        return UpstreamRateLimited(
            "The upstream is rate limiting this gateway; retry later.",
            retry_after=retry_after,
            detail=message,
        )
    if status in (408, 409) or status >= 500:
        return UpstreamUnavailable(
            f"The upstream failed (HTTP {status}).", retry_after=retry_after, detail=message
        )
    if status == 404:
        return UpstreamNotFound(
            "The upstream does not know this model or deployment (HTTP 404).", detail=message
        )
    if status == 413:
        return PayloadTooLarge(f"The upstream refused the request as too large: {message}", param=param)
    return UpstreamRejected(message, code=code, param=param)
