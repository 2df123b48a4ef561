"""Azure OpenAI's error answers, translated into the gateway's error tree.

Azure blocks content in several shapes, depending on the model, the API version and which layer answered:

- ``{"error": {"code": "content_policy_violation", "inner_error": {"code": "ResponsibleAIPolicyViolation",
  "content_filter_results": {...}}}}`` (DALL-E 3 and the image API spec's ``dalleErrorResponse``);
- ``{"error": {"code": "contentFilter", "message": "Your task failed as a result of our safety system."}}``
  (the image how-to; "Generated image was filtered ..." when the output was blocked);
- ``{"error": {"code": "content_filter", "innererror": {"code": "ResponsibleAIPolicyViolation",
  "content_filter_result": {...}}}}`` (the chat-completions spelling, also seen in front of images);
- any other code with an ``inner_error``/``innererror`` whose code is ``ResponsibleAIPolicyViolation``.

All of them become a 400 ``content_policy_violation`` naming the filtered categories. Other failures go
through the OpenAI dialect's mapping, with the ``apim-request-id`` added to the message.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from imagegate import ContentPolicyViolation, GatewayError, UpstreamResponse, retry_after_seconds
from imagegate_openai.dialect import error_from_response

CONTENT_FILTER_CODES = frozenset(
    {"content_policy_violation", "contentfilter", "content_filter", "moderation_blocked"}
)
RESPONSIBLE_AI_CODE = "responsibleaipolicyviolation"
REQUEST_ID_HEADER = "apim-request-id"
_RETRY_AFTER_IN_MESSAGE = re.compile(r"retry after (\d+(?:\.\d+)?) second", re.IGNORECASE)


class AzureInnerError(msgspec.Struct, kw_only=True):
    code: str | None = None
    content_filter_results: dict[str, Any] | None = None
    content_filter_result: dict[str, Any] | None = None  # the chat-completions spelling
    revised_prompt: str | None = None


class AzureError(msgspec.Struct, kw_only=True):
    code: str | int | None = None  # Azure also sends HTTP statuses as codes: "429", "401"
    message: str | None = None
    type: str | None = None
    param: str | None = None
    inner_error: AzureInnerError | None = None
    innererror: AzureInnerError | None = None

    @property
    def inner(self) -> AzureInnerError | None:
        return self.inner_error or self.innererror

    @property
    def code_text(self) -> str | None:
        return None if self.code is None else str(self.code)


class AzureErrorBody(msgspec.Struct):
    error: AzureError | None = None


def decode_error(body: bytes) -> AzureError | None:
    try:
        return msgspec.json.decode(body, type=AzureErrorBody).error
    except msgspec.DecodeError:  # not JSON (an HTML page from a proxy) or not the error shape
        return None


def is_content_filter(error: AzureError) -> bool:
    code = (error.code_text or "").lower()
    inner = error.inner
    return code in CONTENT_FILTER_CODES or (
        inner is not None and (inner.code or "").lower() == RESPONSIBLE_AI_CODE
    )


def filtered_categories(results: dict[str, Any] | None) -> list[str]:
    """The categories marked ``filtered`` in a ``content_filter_results`` object, with what Azure said of
    them: ``["sexual (high severity)", "jailbreak (detected)", "custom_blocklists (my-list)"]``."""
    described: list[str] = []
    for name, result in (results or {}).items():
        if not isinstance(result, dict) or not result.get("filtered"):
            continue
        if result.get("severity"):
            described.append(f"{name} ({result['severity']} severity)")
        elif result.get("detected"):
            described.append(f"{name} (detected)")
        elif isinstance(result.get("details"), list):
            ids = [
                str(item.get("id")) for item in result["details"] if isinstance(item, dict) and item.get("id")
            ]
            described.append(f"{name} ({', '.join(ids)})" if ids else name)
        else:
            described.append(name)
    return described


def content_policy_error(error: AzureError, request_id: str | None) -> ContentPolicyViolation:
    inner = error.inner
    results = inner and (inner.content_filter_results or inner.content_filter_result)
    categories = filtered_categories(results)
    reason = (error.message or "The request was rejected by the safety system.").strip()
    message = f"Azure OpenAI's content filter blocked this request: {reason}"
    if categories:
        message += f"{'' if message.endswith('.') else '.'} Filtered: {', '.join(categories)}."
    return ContentPolicyViolation(with_request_id(message, request_id), param=error.param)


def with_request_id(message: str, request_id: str | None) -> str:
    return f"{message} (apim-request-id {request_id})" if request_id else message


def retry_after_in_message(message: str | None) -> float | None:
    """The delay an Azure 429 message names ("... Please retry after 20 seconds."), for answers that lack
    the ``retry-after`` headers."""
    match = _RETRY_AFTER_IN_MESSAGE.search(message or "")
    return float(match.group(1)) if match else None


def error_from_azure(response: UpstreamResponse) -> GatewayError:
    """The gateway error for a failed Azure answer: content filtering in any of its shapes, else the OpenAI
    dialect's mapping with the ``apim-request-id`` added to the message, and a 429's delay taken from its
    message when Azure sent no ``retry-after`` headers (those the core reads from every answer)."""
    error = decode_error(response.body)
    request_id = response.headers.get(REQUEST_ID_HEADER)
    if error is not None and is_content_filter(error):
        return content_policy_error(error, request_id)
    mapped = error_from_response(response)
    if request_id:
        mapped.message = with_request_id(mapped.message, request_id)
        mapped.args = (mapped.message,)
    if response.status == 429 and error is not None and retry_after_seconds(response.headers) is None:
        mapped.retry_after = retry_after_in_message(error.message)  # the headers, when sent, the core reads
    return mapped
