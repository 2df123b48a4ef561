"""Shared fixtures: a gateway on the default offline route, a real S3-compatible server, Redis key prefixes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
import redis

from tests.support.gateway import serve_gateway
from tests.support.services import (
    REDIS_URL_VARIABLE,
    TEST_BUCKET,
    S3Server,
    run_seaweedfs,
    s3_admin_client,
    shared_redis_url,
)

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


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The shared Redis the tests use (``IMAGEGATE_TEST_REDIS_URL``, default 127.0.0.1:6379; ``.ci/run``
    starts one where none answers). Tests write only under :func:`redis_prefix` keys."""
    url = shared_redis_url()
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.fail(f"no Redis at {url} ({error}); set {REDIS_URL_VARIABLE} or start one (see .ci/run)")
    finally:
        client.close()
    return url


@pytest.fixture(scope="session")
def redis_run_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test run's own; its keys (and only they) are deleted at the end."""
    prefix = f"imagegate-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def redis_prefix(redis_run_prefix: str) -> str:
    """A key prefix of this test's own, inside the run's prefix."""
    return f"{redis_run_prefix}{uuid.uuid4().hex[:8]}:"
