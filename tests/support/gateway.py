"""Start the gateway for a test: write a routes.yaml, build the app, serve it on a loopback port."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from imagegate.app import create_app
from imagegate.router import Router

from .servers import serve_asgi


@contextlib.contextmanager
def serve_gateway(
    routes_yaml: str,
    directory: Path,
    *,
    environ: Mapping[str, str] | None = None,
    plugins: Sequence[object] = (),
    router: Router | None = None,
) -> Iterator[str]:
    """Yield the gateway's base URL (``http://127.0.0.1:PORT``; the OpenAI SDK wants ``base_url + "/v1"``).

    ``routes_yaml`` is written to ``directory/routes.yaml``; ``environ`` replaces the process environment
    for ``${VAR}`` substitution, so tests never depend on the developer's variables. ``router`` replaces the
    gateway's router (a fake clock, a seeded random source).
    """
    path = directory / "routes.yaml"
    path.write_text(routes_yaml)
    app = create_app(path, environ=dict(environ or {}), plugins=plugins, router=router)
    with serve_asgi(app) as base_url:
        yield base_url
