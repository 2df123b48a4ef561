"""aioresponses with aiohttp 3.14+.

aiohttp 3.14 (a security release) added a required ``stream_writer`` argument to ``ClientResponse``;
aioresponses 0.7.9, the newest release, does not pass it (pnuckowski/aioresponses#289, fix in the unreleased
PR #288). Mocked responses are built with this class instead, which supplies the one value aiohttp reads from
it. Remove once aioresponses ships the fix.
"""

from __future__ import annotations

import inspect
from typing import Any
from unittest.mock import Mock

from aiohttp import ClientResponse

NEEDS_STREAM_WRITER = "stream_writer" in inspect.signature(ClientResponse.__init__).parameters


class MockedClientResponse(ClientResponse):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if NEEDS_STREAM_WRITER:
            kwargs.setdefault("stream_writer", Mock(output_size=0))
        super().__init__(*args, **kwargs)


def respond(mocked: Any, method: str, url: str, **kwargs: Any) -> None:
    """``mocked.<method>(url, ...)`` with a response class that works on every supported aiohttp."""
    getattr(mocked, method)(url, response_class=MockedClientResponse, **kwargs)
