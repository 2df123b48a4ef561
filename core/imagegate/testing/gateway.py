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

    ``routes`` is routes.yaml's content: a mapping or YAML text, with ``server.image_store.directory`` set
    inside ``directory`` unless the routes give a store (so hosted images never land in the current
    directory). It is written to ``directory/routes.yaml``, a temporary directory when ``directory`` is
    ``None``; text that is not a mapping of YAML (a test of a broken file) is written as is. ``environ`` replaces
    the process environment for ``${VAR}`` secrets and ``IMAGEGATE_DISABLE_PLUGINS``, so tests never depend
    on the developer's variables. ``plugins`` are registered besides the installed ones. ``clock`` (a
    :class:`FakeClock`) makes retries and cooldowns take no real time; ``router`` replaces the whole router.
    """
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="imagegate-")))
        path = directory / "routes.yaml"
        path.write_text(_routes_yaml(routes, directory))
        if router is None and clock is not None:
            router = Router(clock=clock)
        app = create_app(path, environ=dict(environ or {}), plugins=plugins, router=router)
        limits = uvicorn_options(app.state.routes.table.server.connections)  # as `imagegate serve` has them
        yield stack.enter_context(serve_asgi(app, **limits))


def _routes_yaml(routes: Routes, directory: Path) -> str:
    if isinstance(routes, str):
        return _text_with_store(routes, directory)
    return yaml.safe_dump(_with_store(routes, directory), sort_keys=False)


def _with_store(document: Mapping[str, Any], directory: Path) -> dict[str, Any]:
    server = dict(document.get("server") or {})
    store = dict(server.get("image_store") or {})
    store.setdefault("directory", str(directory / "images"))
    return {**document, "server": {**server, "image_store": store}}


def _text_with_store(text: str, directory: Path) -> str:
    """YAML text as is when it names a store, else with the test's; text that is not a routes mapping (a test
    of a broken file) as is."""
    try:
        document = yaml.safe_load(text)
        store = (document.get("server") or {}).get("image_store") or {}
        if "directory" in store or "s3" in store:
            return text
        return yaml.safe_dump(_with_store(document, directory), sort_keys=False)
    except (yaml.YAMLError, AttributeError, TypeError, ValueError):
        return text


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
