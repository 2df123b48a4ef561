"""Start the gateway for a test: write a routes.yaml, build the app, serve it on a loopback port."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from imagegate.app import create_app

from .servers import serve_asgi


@contextlib.contextmanager
def serve_gateway(
    routes_yaml: str,
    directory: Path,
    *,
    environ: Mapping[str, str] | None = None,
    plugins: Sequence[object] = (),
) -> Iterator[str]:
    """Yield the gateway's base URL (``http://127.0.0.1:PORT``; the OpenAI SDK wants ``base_url + "/v1"``).

    ``routes_yaml`` is written to ``directory/routes.yaml``; ``environ`` replaces the process environment
    for ``${VAR}`` substitution, so tests never depend on the developer's variables.
    """
    path = directory / "routes.yaml"
    path.write_text(routes_yaml)
    app = create_app(path, environ=dict(environ or {}), plugins=plugins)
    with serve_asgi(app) as base_url:
        yield base_url
