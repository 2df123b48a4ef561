"""Shared fixtures: a gateway on the default offline route, and a real S3-compatible server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.support.gateway import serve_gateway
from tests.support.services import TEST_BUCKET, S3Server, run_seaweedfs, s3_admin_client

OFFLINE_ROUTES = """
server:
  image_store: {{directory: "{store}", ttl_seconds: 3600}}
  max_body_mb: 8
providers:
  local: {{plugin: offline}}
  openai: {{plugin: openai, api_key: "${{OPENAI_API_KEY}}"}}
models:
  imagegate-offline: [{{provider: local}}]
  gpt-image-1: [{{provider: openai}}]
"""


@pytest.fixture(scope="module")
def offline_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a gateway serving the offline model (and an OpenAI route with no key)."""
    directory = tmp_path_factory.mktemp("offline")
    routes = OFFLINE_ROUTES.format(store=directory / "images")
    with serve_gateway(routes, Path(directory), environ={}) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def offline_client(offline_gateway: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=offline_gateway + "/v1", api_key="client-key", max_retries=0)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One real S3-compatible server (SeaweedFS) for the whole run, with the bucket ``imagegate`` created."""
    with run_seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        client = s3_admin_client(server)
        client.create_bucket(Bucket=TEST_BUCKET)
        client.close()
        yield server
