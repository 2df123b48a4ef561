"""The default routing table: shipped inside the package, found by `imagegate serve` run anywhere, serving
the current models."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest
from imagegate.cli import find_routes, main
from openai.types import ImageModel

from tests.support.images import describe
from tests.support.sdk import decoded
from tests.support.servers import free_port

CURRENT = {m for m in ImageModel.__args__ if m not in ("gpt-image-1", "dall-e-2", "dall-e-3")}  # type: ignore[attr-defined]


def test_routes_file_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    packaged, origin = find_routes(None, environ={})
    assert origin == "the default shipped with imagegate" and Path(packaged).is_file()
    (tmp_path / "routes.yaml").write_text("models: {}")
    assert find_routes(None, environ={}) == ("routes.yaml", "found in the current directory")
    assert find_routes(None, environ={"IMAGEGATE_ROUTES": "/etc/x.yaml"})[0] == "/etc/x.yaml"
    assert find_routes("mine.yaml", environ={"IMAGEGATE_ROUTES": "/etc/x.yaml"})[0] == "mine.yaml"


def test_the_checkouts_routes_yaml_is_the_packaged_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    packaged, _ = find_routes(None, environ={})
    checkout = Path(__file__).resolve().parents[2] / "routes.yaml"
    assert checkout.resolve() == Path(packaged).resolve()


def test_packaged_table_offers_the_current_models(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("IMAGEGATE_ROUTES", raising=False)
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    models = {line.split()[1] for line in out.splitlines() if line.startswith("  model ")}
    assert models == CURRENT | {"imagegate-offline"}
    assert (
        "NOT USABLE: environment variable OPENAI_API_KEY is not set" in out
        or "openai (plugin openai): ready" in out
    )


def test_serve_outside_the_checkout(tmp_path: Path) -> None:
    port = free_port()
    environ = {
        key: value for key, value in os.environ.items() if key not in ("IMAGEGATE_ROUTES", "OPENAI_API_KEY")
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "imagegate.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                ready = httpx.get(base + "/readyz")
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline, "the gateway did not start"
                time.sleep(0.1)
        assert ready.json()["status"] == "ready"
        client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0)
        assert {model.id for model in client.models.list()} == CURRENT | {"imagegate-offline"}
        result = client.images.generate(model="imagegate-offline", prompt="a lighthouse", size="256x256")
        assert describe(decoded(result))[:3] == ("png", 256, 256)
        with pytest.raises(openai.APIStatusError) as caught:
            client.images.generate(model="gpt-image-2.5-sunburst", prompt="a lighthouse")
        assert caught.value.status_code == 503 and "OPENAI_API_KEY" in caught.value.message
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=20)
    assert "imagegate/routes.yaml (the default shipped with imagegate)" in stderr
