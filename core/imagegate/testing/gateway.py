"""Serve the gateway for a test: write routes.yaml, build the app, serve it on a loopback port."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..app import create_app
from ..retry import Clock
from ..router import Router
from ..serving import uvicorn_options
from .servers import serve_asgi

Routes = str | Mapping[str, Any]


@contextlib.contextmanager
def serve_gateway(
    routes: Routes,
    directory: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    plugins: Sequence[object] = (),
    clock: Clock | None = None,
    router: Router | None = None,
) -> Iterator[str]:
    """Serve a gateway on a free loopback port; yields its base URL (``http://127.0.0.1:PORT``; the OpenAI SDK
    wants ``base_url=url + "/v1"``).

    ``routes`` is routes.yaml's content: a mapping (dumped as YAML, with ``server.image_store.directory``
    set inside ``directory`` unless given) or YAML text (written as is). It is written to
    ``directory/routes.yaml``, a temporary directory when ``directory`` is ``None``. ``environ`` replaces
    the process environment for ``${VAR}`` secrets and ``IMAGEGATE_DISABLE_PLUGINS``, so tests never depend
    on the developer's variables. ``plugins`` are registered besides the installed ones. ``clock`` (a
    :class:`FakeClock`) makes retries and cooldowns take no real time; ``router`` replaces the whole router.
    """
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="imagegate-")))
        path = directory / "routes.yaml"
        path.write_text(routes if isinstance(routes, str) else _routes_yaml(routes, directory))
        if router is None and clock is not None:
            router = Router(clock=clock)
        app = create_app(path, environ=dict(environ or {}), plugins=plugins, router=router)
        limits = uvicorn_options(app.state.routes.table.server.connections)  # as `imagegate serve` has them
        yield stack.enter_context(serve_asgi(app, **limits))


def _routes_yaml(routes: Mapping[str, Any], directory: Path) -> str:
    document = dict(routes)
    server = dict(document.get("server") or {})
    store = dict(server.get("image_store") or {})
    store.setdefault("directory", str(directory / "images"))
    document["server"] = {**server, "image_store": store}
    return yaml.safe_dump(document, sort_keys=False)


@dataclass(slots=True)
class ServedGateway:
    """A gateway a test serves: its base URL, its routes file, and an OpenAI SDK client for it."""

    url: str
    routes_path: Path

    @property
    def api_url(self) -> str:
        return self.url + "/v1"

    def client(self, **options: Any) -> Any:
        """An ``openai.OpenAI`` client for this gateway, without retries of its own (so a test sees each
        answer as the gateway gave it)."""
        import openai  # a test dependency: imported when a test asks for a client

        return openai.OpenAI(**{"base_url": self.api_url, "api_key": "test-key", "max_retries": 0, **options})
