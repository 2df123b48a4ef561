"""``imagegate serve`` as an operator runs it: a process that loads the routes, binds, answers, and stops."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.support.servers import free_port

ROUTES = """
providers:
  local: {plugin: offline}
models:
  imagegate-offline: [{provider: local}]
"""


def test_serve_starts_answers_and_stops(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES)
    port = free_port()
    command = [sys.executable, "-m", "imagegate.cli", "serve", "--routes", str(routes), "--port", str(port)]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, process.stderr.read().decode()  # type: ignore[union-attr]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "imagegate serve did not answer within 20 s"
                time.sleep(0.05)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/images/generations",
            data=json.dumps({"model": "imagegate-offline", "prompt": "a dot", "size": "256x256"}).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=20) as response:
            assert response.status == 200
    finally:
        process.send_signal(signal.SIGINT)
        output, errors = process.communicate(timeout=20)
    assert process.returncode == 0
    assert b"no clients: section" not in errors  # bound to loopback: no open-access warning
    # One access line per image request, the gateway's JSON on stdout; uvicorn's own is off (no duplicate).
    (line,) = output.splitlines()
    assert json.loads(line)["path"] == "/v1/images/generations"
    assert b"/v1/images/generations" not in errors
