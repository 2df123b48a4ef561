"""The served OpenAPI document tells the truth: schemathesis fuzzes every operation it declares.

The run is deterministic (schemathesis' deterministic generation, no example database) and bounded (a fixed
number of examples per operation, well under two minutes on a busy 2-core machine). It fails on any 5xx, any
status, header, content type or body the document does not declare, a 405 without ``Allow``, and schema-
invalid input that is not refused with a 4xx. ``positive_data_acceptance`` is left out: a request valid for
the schema may still ask for what the routed model cannot do, and a 400 naming the parameter is right then.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.gateway import serve_gateway

ROUTES = """
server:
  default_model: imagegate-offline
  image_store: {{directory: "{store}"}}
  max_body_mb: 4
providers:
  local: {{plugin: offline}}
models:
  imagegate-offline: [{{provider: local, capabilities: {{max_n: 2}}}}]
"""
EXAMPLES_PER_OPERATION = 60
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp("fuzz")
    with serve_gateway(ROUTES.format(store=directory / "images"), directory, environ={}) as base_url:
        yield base_url, directory


def test_the_document_declares_what_schemathesis_found_missing(gateway: tuple[str, Path]) -> None:
    document = httpx.get(gateway[0] + "/openapi.json").json()
    generations = document["paths"]["/v1/images/generations"]["post"]
    assert "415" in generations["responses"]
    schema = generations["requestBody"]["content"]["application/json"]["schema"]
    assert schema["allOf"][1]["required"] == ["prompt"]
    edits = document["paths"]["/v1/images/edits"]["post"]["requestBody"]["content"]
    assert edits["multipart/form-data"]["schema"]["allOf"][1]["required"] == ["prompt", "image"]
    hosted = document["paths"]["/v1/images/hosted/{name}"]["get"]
    assert hosted["parameters"][0] == {
        "name": "name",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }


def test_schemathesis_finds_no_server_error_or_schema_violation(gateway: tuple[str, Path]) -> None:
    base_url, directory = gateway
    run = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            base_url + "/openapi.json",
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
            "--max-examples",
            str(EXAMPLES_PER_OPERATION),
            "--generation-deterministic",
            "--request-timeout",
            "30",
            "--no-color",
        ],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": str(SCHEMATHESIS.parent), "HOME": str(directory), "NO_COLOR": "1"},
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
