"""routes.yaml: the image store and shared-state keys of docs/replicas.md."""

from __future__ import annotations

import pytest
from imagegate.config import RoutesError, parse_routes
from imagegate.plugins import build_plugin_manager, collect_providers

MODELS = """
providers:
  local: {plugin: offline}
models:
  m: [{provider: local}]
"""

CONTRACT = """
server:
  shared_state: {redis_url: "redis://127.0.0.1:6379/0", key_prefix: "imagegate:"}
  image_store:
    s3: {bucket: imagegate, endpoint_url: "http://127.0.0.1:8333", region: us-east-1,
         access_key_id: "${S3_ACCESS_KEY_ID}", secret_access_key: "${S3_SECRET_ACCESS_KEY}", prefix: "hosted/"}
    ttl_seconds: 3600
    urls: presigned
"""


@pytest.fixture(scope="module")
def providers() -> dict:
    return collect_providers(build_plugin_manager({}))


def load(server: str, providers: dict, environ: dict | None = None):
    return parse_routes(server + MODELS, "routes.yaml", providers, environ or {})


def test_the_contract_loads(providers: dict) -> None:
    table = load(CONTRACT, providers, {"S3_ACCESS_KEY_ID": "id", "S3_SECRET_ACCESS_KEY": "secret"})
    store, state = table.server.image_store, table.server.shared_state
    assert store.s3 is not None and store.s3.access_key_id == "id" and store.s3.secret_access_key == "secret"
    assert store.s3.endpoint_url == "http://127.0.0.1:8333" and store.s3.prefix == "hosted/"
    assert store.url_mode == "presigned" and store.ttl_seconds == 3600
    assert (
        state is not None
        and state.redis_url == "redis://127.0.0.1:6379/0"
        and state.key_prefix == "imagegate:"
    )
    assert state.budget_on_state_error == "allow"


def test_defaults_stay_in_process(providers: dict) -> None:
    server = load("", providers).server
    assert server.shared_state is None and server.image_store.s3 is None
    assert server.image_store.url_mode == "gateway"


def test_unset_secret_names_the_variable(providers: dict) -> None:
    with pytest.raises(RoutesError) as raised:
        load(CONTRACT, providers, {"S3_ACCESS_KEY_ID": "id"})
    assert raised.value.path == "server.image_store" and "S3_SECRET_ACCESS_KEY" in raised.value.message


@pytest.mark.parametrize(
    ("server", "path", "words"),
    [
        ("server: {image_store: {urls: presigned}}\n", "server.image_store.urls", "need an s3 store"),
        (
            "server: {image_store: {s3: {bucket: b}, ttl_seconds: 700000}}\n",
            "server.image_store.ttl_seconds",
            "7 days",
        ),
        (
            "server: {image_store: {s3: {bucket: b, access_key_id: x}}}\n",
            "server.image_store.s3",
            "both",
        ),
        ("server: {image_store: {s3: {bucket: b, buckett: c}}}\n", "server.image_store.s3", "buckett"),
        (
            "server: {shared_state: {redis_url: r, budget_on_state_error: maybe}}\n",
            "server.shared_state.budget_on_state_error",
            "",
        ),
    ],
)
def test_bad_store_and_state_settings(providers: dict, server: str, path: str, words: str) -> None:
    with pytest.raises(RoutesError) as raised:
        load(server, providers)
    assert raised.value.path == path and words in raised.value.message
