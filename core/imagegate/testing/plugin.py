"""The pytest plugin (entry point ``pytest11``): fixtures that serve gateways and fake upstreams for a test.

Importing this module stays cheap and safe in any environment with imagegate installed: the SDK client is
only imported when a test asks for one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from ..retry import Clock
from .gateway import Routes, ServedGateway, serve_gateway
from .servers import serve_upstream

GatewayFactory = Callable[..., ServedGateway]
UpstreamFactory = Callable[[web.Application | Callable[[], web.Application]], str]


@pytest.fixture
def imagegate_gateway(tmp_path: Path) -> Iterator[GatewayFactory]:
    """Serve gateways for this test: ``imagegate_gateway(routes, *, environ={}, plugins=(), clock=None)``
    returns a :class:`~imagegate.testing.ServedGateway` (``.url``, ``.client()``); ``routes`` is a mapping
    shaped like routes.yaml (or its YAML text). Each is stopped when the test ends."""
    with contextlib.ExitStack() as stack:

        def start(
            routes: Routes,
            *,
            environ: Mapping[str, str] | None = None,
            plugins: Sequence[object] = (),
            clock: Clock | None = None,
        ) -> ServedGateway:
            directory = tmp_path / f"gateway-{len(list(tmp_path.glob('gateway-*')))}"
            directory.mkdir()
            url = stack.enter_context(
                serve_gateway(routes, directory, environ=environ, plugins=plugins, clock=clock)
            )
            return ServedGateway(url=url, routes_path=directory / "routes.yaml")

        yield start


@pytest.fixture
def imagegate_upstream() -> Iterator[UpstreamFactory]:
    """Serve fake upstreams for this test: ``imagegate_upstream(app)`` takes an aiohttp application (or a
    function that builds one) and returns its base URL. Each is stopped when the test ends."""
    with contextlib.ExitStack() as stack:

        def start(app: Any) -> str:
            return stack.enter_context(serve_upstream(app))

        yield start
