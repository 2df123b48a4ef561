"""Every hook is called as documented, and the command line answers as the README says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
from imagegate import hookimpl
from imagegate.cli import main

from tests.support.gateway import serve_gateway

ROUTES = """
server: {image_store: {directory: "%s"}}
providers: {local: {plugin: offline}}
models: {m: [{provider: local}]}
"""


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    @hookimpl
    def imagegate_startup(self, app: object) -> None:
        self.events.append(("startup", app.state.gateway is not None))  # type: ignore[attr-defined]

    @hookimpl
    def imagegate_request_received(self, request: object, request_id: str) -> None:
        self.events.append(("received", (request.model, request_id)))  # type: ignore[attr-defined]

    @hookimpl
    def imagegate_response_ready(self, request: object, request_id: str, response: dict) -> None:
        self.events.append(("ready", (request_id, len(response["data"]))))


def test_broadcast_hooks(tmp_path: Path) -> None:
    recorder = Recorder()
    with serve_gateway(ROUTES % (tmp_path / "img"), tmp_path, plugins=[recorder]) as url:
        response = httpx.post(
            url + "/v1/images/generations",
            headers={"x-request-id": "r1"},
            json={"model": "m", "prompt": "p", "n": 2, "size": "64x64"},
        )
        assert response.status_code == 200
    assert recorder.events == [("startup", True), ("received", ("m", "r1")), ("ready", ("r1", 2))]


def test_a_stream_is_ready_with_the_body_it_stands_for(tmp_path: Path) -> None:
    """A streamed answer calls the hooks too: ready, once it ends, with the body the images would have made."""
    recorder = Recorder()
    with serve_gateway(ROUTES % (tmp_path / "img"), tmp_path, plugins=[recorder]) as url:
        body = {"model": "m", "prompt": "p", "n": 3, "size": "64x64", "stream": True, "partial_images": 1}
        with httpx.stream(
            "POST", url + "/v1/images/generations", headers={"x-request-id": "s1"}, json=body
        ) as r:
            assert r.status_code == 200 and r.read().count(b"event: image_generation.completed") == 3
    assert recorder.events[1:] == [("received", ("m", "s1")), ("ready", ("s1", 3))]


def test_check_valid_file(tmp_path: Path, capsys) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES % (tmp_path / "img"))
    assert main(["check", str(routes)]) == 0
    out = capsys.readouterr().out
    assert "OK (1 models, 1 provider accounts)" in out and "local/m" in out


def test_check_broken_file(tmp_path: Path, capsys) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text("providers: {local: {plugin: offline}}\nmodels: {m: [{provider: nobody}]}")
    assert main(["check", str(routes)]) == 1
    assert "models.m.targets[0].provider: unknown provider account 'nobody'" in capsys.readouterr().err


def test_plugins_command_and_blocking() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "imagegate.cli", "plugins"], capture_output=True, text=True, check=True
    ).stdout
    assert "offline: offline  [imagegate" in listed and "stability: stability" in listed
    blocked = subprocess.run(
        [sys.executable, "-m", "imagegate.cli", "plugins"],
        capture_output=True,
        text=True,
        check=True,
        env={"IMAGEGATE_DISABLE_PLUGINS": "stability,azure", "PATH": ""},
    ).stdout
    assert "stability:" not in blocked.split("blocked:")[0] and "blocked: stability, azure" in blocked


def test_a_reader_that_leaves_early_gets_no_traceback() -> None:
    """`imagegate plugins | head -1`: the pipe closes before the listing is written."""
    process = subprocess.Popen(
        [sys.executable, "-m", "imagegate.cli", "plugins"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # before the command has even imported its plugins
    errors = process.stderr.read().decode()
    assert process.wait(timeout=30) == 1
    assert "Traceback" not in errors and "BrokenPipeError" not in errors
