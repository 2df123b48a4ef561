"""The default routing table: shipped inside the package, found by `imagegate serve` run anywhere, serving
the current models."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import zipfile
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


def test_the_wheel_ships_the_default_table_and_the_model_table(tmp_path: Path) -> None:
    repository = Path(__file__).resolve().parents[2]
    source = tmp_path / "source"  # a clean copy: no build/ left over from an earlier build
    junk = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for name in ("core", "plugins"):
        shutil.copytree(repository / name, source / name, ignore=junk)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(repository / name, source / name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            tmp_path,
            source,
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("imagegate-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert {"imagegate/routes.yaml", "imagegate_openai/models.yaml"} <= names
