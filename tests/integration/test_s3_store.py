"""The S3 image store against a real S3-compatible server (SeaweedFS), alone and behind the gateway."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import openai
import pytest
from imagegate.cli import main
from imagegate.config import S3Settings, StoreSettings
from imagegate.store import ImageStoreUnavailable
from imagegate.store.s3 import S3ImageStore, apply_lifecycle_rule, lifecycle_rule_id

from tests.support.gateway import serve_gateway
from tests.support.images import describe, make_image
from tests.support.servers import free_port
from tests.support.services import TEST_BUCKET, S3Server, s3_admin_client


class Clock:
    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def settings_for(server: S3Server, prefix: str, urls: str = "presigned", ttl: int = 600) -> StoreSettings:
    s3 = S3Settings(
        bucket=TEST_BUCKET,
        endpoint_url=server.endpoint_url,
        region=server.region,
        access_key_id=server.access_key_id,
        secret_access_key=server.secret_access_key,
        prefix=prefix,
    )
    return StoreSettings(s3=s3, ttl_seconds=ttl, urls=urls)  # type: ignore[arg-type]


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid.uuid4().hex[:12]}/"


async def test_put_keeps_content_type_and_presigns_for_the_ttl(s3_server: S3Server, prefix: str) -> None:
    store = S3ImageStore(settings_for(s3_server, prefix, ttl=600))
    png = make_image(32, 32)
    name = await store.put(png, "png")
    url = await store.url(name, "http://gateway/unused")
    assert url.startswith(s3_server.endpoint_url) and f"/{TEST_BUCKET}/{prefix}{name}" in url
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["600"]
    response = httpx.get(url)
    assert response.status_code == 200 and response.content == png
    assert response.headers["content-type"] == "image/png"
    tampered = url.replace(name, name.replace(".png", ".jpg"))
    assert httpx.get(tampered).status_code == 403  # the signature covers the key
    head = s3_admin_client(s3_server).head_object(Bucket=TEST_BUCKET, Key=prefix + name)
    assert head["ContentType"] == "image/png"


async def test_gateway_urls_and_reads_through_the_store(s3_server: S3Server, prefix: str) -> None:
    store = S3ImageStore(settings_for(s3_server, prefix, urls="gateway"))
    data = make_image(40, 20, "webp")
    name = await store.put(data, "webp")
    assert await store.url(name, "http://gw/v1/images/hosted/" + name) == "http://gw/v1/images/hosted/" + name
    stored = await store.get(name)
    assert stored is not None and stored.content_type == "image/webp" and stored.size == len(data)
    assert b"".join([bytes(chunk) async for chunk in stored.chunks]) == data
    assert await store.get("missing.png") is None
    assert await store.get("../escape.png") is None


async def test_expiry_on_read_and_cleanup_spare_other_objects(s3_server: S3Server, prefix: str) -> None:
    clock = Clock()
    store = S3ImageStore(settings_for(s3_server, prefix, ttl=60), clock=clock)
    admin = s3_admin_client(s3_server)
    admin.put_object(Bucket=TEST_BUCKET, Key=prefix + "operator-notes.txt", Body=b"keep me")
    first = await store.put(b"one", "png")
    second = await store.put(b"two", "jpeg")
    clock.now += 120
    assert await store.get(first) is None  # expired: 404, and deleted
    assert await store.cleanup() == 1  # the second image; never the operator's object
    keys = {item["Key"] for item in admin.list_objects_v2(Bucket=TEST_BUCKET, Prefix=prefix)["Contents"]}
    assert keys == {prefix + "operator-notes.txt"} and prefix + second not in keys


def test_lifecycle_rule_is_merged_into_the_buckets_rules(s3_server: S3Server, prefix: str) -> None:
    admin = s3_admin_client(s3_server)
    bucket = f"lifecycle-{uuid.uuid4().hex[:8]}"
    admin.create_bucket(Bucket=bucket)
    theirs = {
        "ID": "operators-own",
        "Status": "Enabled",
        "Filter": {"Prefix": "logs/"},
        "Expiration": {"Days": 30},
    }
    admin.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [theirs]})
    settings = settings_for(s3_server, prefix, ttl=3600).s3
    assert settings is not None
    own = S3Settings(
        bucket=bucket,
        endpoint_url=settings.endpoint_url,
        access_key_id=settings.access_key_id,
        secret_access_key=settings.secret_access_key,
        prefix=prefix,
    )
    assert apply_lifecycle_rule(own, 3600)
    assert apply_lifecycle_rule(own, 3 * 86400)  # a new TTL replaces the gateway's rule, not the operator's
    rules = {rule["ID"]: rule for rule in admin.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert rules["operators-own"]["Filter"] == {"Prefix": "logs/"}
    assert rules[lifecycle_rule_id(prefix)]["Filter"] == {"Prefix": prefix}
    assert rules[lifecycle_rule_id(prefix)]["Expiration"] == {"Days": 3}


def test_lifecycle_rule_refused_is_a_warning(
    s3_server: S3Server, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = S3Settings(
        bucket=TEST_BUCKET,
        endpoint_url=s3_server.endpoint_url,
        access_key_id="nobody",
        secret_access_key="wrong",
        prefix=prefix,
    )
    assert not apply_lifecycle_rule(wrong, 3600)
    assert "lifecycle rule was not set" in caplog.text


async def test_store_down_is_a_503_without_details(prefix: str) -> None:
    down = S3Server(endpoint_url=f"http://127.0.0.1:{free_port()}", access_key_id="k", secret_access_key="s")
    store = S3ImageStore(settings_for(down, prefix))
    with pytest.raises(ImageStoreUnavailable) as raised:
        await store.put(b"x", "png")
    assert raised.value.status == 503 and "127.0.0.1" not in raised.value.message


ROUTES = """
server:
  image_store:
    s3: {{bucket: {bucket}, endpoint_url: "{endpoint}", region: us-east-1,
         access_key_id: "${{S3_ACCESS_KEY_ID}}", secret_access_key: "${{S3_SECRET_ACCESS_KEY}}", prefix: "{prefix}"}}
    ttl_seconds: 3600
    urls: {urls}
providers:
  local: {{plugin: offline}}
models:
  imagegate-offline: [{{provider: local}}]
"""


@pytest.fixture(params=["presigned", "gateway"])
def s3_gateway(request: pytest.FixtureRequest, s3_server: S3Server, tmp_path: Path) -> Iterator[str]:
    routes = ROUTES.format(
        bucket=TEST_BUCKET,
        endpoint=s3_server.endpoint_url,
        prefix=f"gw-{uuid.uuid4().hex[:8]}/",
        urls=request.param,
    )
    environ = {
        "S3_ACCESS_KEY_ID": s3_server.access_key_id,
        "S3_SECRET_ACCESS_KEY": s3_server.secret_access_key,
    }
    with serve_gateway(routes, tmp_path, environ=environ) as base_url:
        yield base_url


def test_gateway_hosts_url_images_in_the_bucket(s3_gateway: str, s3_server: S3Server) -> None:
    client = openai.OpenAI(base_url=s3_gateway + "/v1", api_key="k", max_retries=0)
    result = client.images.generate(
        model="imagegate-offline",
        prompt="a bucket",
        response_format="url",
        size="256x256",
        output_format="webp",
    )
    url = result.data[0].url
    assert url is not None
    presigned = url.startswith(s3_server.endpoint_url)
    assert presigned or url.startswith(s3_gateway + "/v1/images/hosted/")
    response = httpx.get(url)
    assert response.status_code == 200 and response.headers["content-type"] == "image/webp"
    assert describe(response.content)[:3] == ("webp", 256, 256)


def test_gateway_start_sets_the_lifecycle_rule_of_its_prefix(s3_gateway: str, s3_server: S3Server) -> None:
    admin = s3_admin_client(s3_server)
    deadline = time.monotonic() + 10  # set in the background as the gateway starts
    while True:
        rules = admin.get_bucket_lifecycle_configuration(Bucket=TEST_BUCKET)["Rules"]
        ours = [rule for rule in rules if rule["Filter"].get("Prefix", "").startswith("gw-")]
        if ours or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert ours and all(rule["Expiration"] == {"Days": 1} for rule in ours)  # 3600 s, in whole days


def test_prepare_store_creates_the_bucket_and_its_rule(
    s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = f"prepared-{uuid.uuid4().hex[:8]}"
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        ROUTES.format(bucket=bucket, endpoint=s3_server.endpoint_url, prefix="hosted/", urls="presigned")
    )
    monkeypatch.setenv("S3_ACCESS_KEY_ID", s3_server.access_key_id)
    monkeypatch.setenv("S3_SECRET_ACCESS_KEY", s3_server.secret_access_key)
    assert main(["prepare-store", "--routes", str(routes)]) == 0
    assert f"bucket {bucket}: created" in capsys.readouterr().out
    rules = s3_admin_client(s3_server).get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [rule["ID"] for rule in rules] == [lifecycle_rule_id("hosted/")]
    assert main(["prepare-store", "--routes", str(routes)]) == 0
    assert f"bucket {bucket}: exists" in capsys.readouterr().out


def test_prepare_store_reports_a_store_that_does_not_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    routes = tmp_path / "routes.yaml"
    endpoint = f"http://127.0.0.1:{free_port()}"
    routes.write_text(ROUTES.format(bucket="b", endpoint=endpoint, prefix="hosted/", urls="presigned"))
    monkeypatch.setenv("S3_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("S3_SECRET_ACCESS_KEY", "s")
    assert main(["prepare-store", "--routes", str(routes), "--wait", "0"]) == 1
    assert "error: bucket b:" in capsys.readouterr().err
