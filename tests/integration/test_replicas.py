"""Two gateways on two ports sharing one Redis and one S3 bucket, as two replicas do: a target cooled down
through one is passed by through the other, a client's images per minute hold across both, a URL minted by
one is fetched from the bucket or through the other, Redis stopping under load fails no request, and /readyz
tells admins how each replica sees Redis without ceasing to be ready."""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
import redis
from imagegate.health import REFRESH_SECONDS
from imagegate.state.redis import RETRY_AFTER_SECONDS

from tests.emulators.faulty import API_KEY, Fail, FaultyUpstream, serve_faulty
from tests.support.gateway import serve_gateway
from tests.support.images import describe
from tests.support.services import TEST_BUCKET, RedisServer, S3Server, run_redis
from tests.support.waiting import wait_until

LIMITED_KEY, LOAD_KEY = "ig-limited-key", "ig-load-key"

ROUTES = """
server:
  retry: {{max_attempts: 1}}
  cooldown: {{failures: 2, window_seconds: 60, duration_seconds: 30}}
  # A generous Redis timeout: a busy test machine must not turn shared counting into per-process counting.
  shared_state: {{redis_url: "{redis_url}", key_prefix: "{key_prefix}", timeout_seconds: 2}}
  image_store:
    s3: {{bucket: {bucket}, endpoint_url: "{s3}", access_key_id: "${{S3_ACCESS_KEY_ID}}",
         secret_access_key: "${{S3_SECRET_ACCESS_KEY}}", prefix: "{s3_prefix}"}}
    urls: {urls}
providers:
  a: {{plugin: openai, api_key: {upstream_key}, base_url: "{a}/v1"}}
  b: {{plugin: openai, api_key: {upstream_key}, base_url: "{b}/v1"}}
  local: {{plugin: offline}}
models:
  gpt-image-1: [{{provider: a}}, {{provider: b}}]
  imagegate-offline: [{{provider: local, price: {{usd_per_image: 0.01}}}}]
clients:
  limited: {{key: "{limited_key}", images_per_minute: 5}}
  load: {{key: "{load_key}", budget_usd: {{limit: 1000, period: month}}, images_per_minute: 100000}}
"""


@dataclass
class Pair:
    first: str
    second: str
    a: FaultyUpstream
    b: FaultyUpstream

    def client(self, base_url: str, key: str = LOAD_KEY) -> openai.OpenAI:
        return openai.OpenAI(base_url=base_url + "/v1", api_key=key, max_retries=0)


@contextlib.contextmanager
def serve_pair(directory: Path, s3: S3Server, redis_url: str, key_prefix: str, urls: str) -> Iterator[Pair]:
    with serve_faulty("a", "b") as upstreams:
        (a_url, a), (b_url, b) = upstreams["a"], upstreams["b"]
        routes = ROUTES.format(
            redis_url=redis_url,
            key_prefix=key_prefix,
            bucket=TEST_BUCKET,
            s3=s3.endpoint_url,
            s3_prefix=f"replicas-{uuid.uuid4().hex[:8]}/",
            urls=urls,
            upstream_key=API_KEY,
            a=a_url,
            b=b_url,
            limited_key=LIMITED_KEY,
            load_key=LOAD_KEY,
        )
        environ = {"S3_ACCESS_KEY_ID": s3.access_key_id, "S3_SECRET_ACCESS_KEY": s3.secret_access_key}
        (directory / "first").mkdir()
        (directory / "second").mkdir()
        with (
            serve_gateway(routes, directory / "first", environ=environ) as first,
            serve_gateway(routes, directory / "second", environ=environ) as second,
        ):
            yield Pair(first, second, a, b)


@pytest.fixture
def pair(tmp_path: Path, s3_server: S3Server, redis_url: str, redis_prefix: str) -> Iterator[Pair]:
    with serve_pair(tmp_path, s3_server, redis_url, redis_prefix, urls="gateway") as served:
        yield served


def generate(
    client: openai.OpenAI, model: str = "gpt-image-1", n: int = 1, size: str = "1024x1024", **options: object
) -> object:
    return client.images.generate(model=model, prompt="a harbour", size=size, n=n, **options)


def test_a_target_cooled_down_through_one_replica_is_passed_by_on_the_other(pair: Pair) -> None:
    pair.a.then(Fail(500), Fail(500))
    first = pair.client(pair.first)
    generate(first)
    generate(first)  # a's second failure within the window: a cools down
    assert pair.a.steps_taken == ["Fail", "Fail"] and len(pair.b.received) == 2
    time.sleep(REFRESH_SECONDS + 0.3)  # the other replica refreshes its view of target health
    second = pair.client(pair.second)
    for _ in range(3):
        generate(second)
    assert len(pair.a.received) == 2 and len(pair.b.received) == 5  # the second never called a


def test_images_per_minute_hold_across_replicas(pair: Pair) -> None:
    first, second = pair.client(pair.first, LIMITED_KEY), pair.client(pair.second, LIMITED_KEY)
    generate(first, "imagegate-offline", n=3, size="256x256")
    with pytest.raises(openai.RateLimitError) as raised:
        generate(
            second, "imagegate-offline", n=3, size="256x256"
        )  # 3 + 3 > 5 a minute, though this one saw none
    assert raised.value.code == "rate_limit_exceeded"
    generate(second, "imagegate-offline", n=2, size="256x256")
    with pytest.raises(openai.RateLimitError):
        generate(first, "imagegate-offline", n=1, size="256x256")


def test_a_url_minted_by_one_replica_is_served_by_the_other(pair: Pair) -> None:
    result = generate(pair.client(pair.first), "imagegate-offline", size="256x256", response_format="url")
    url = result.data[0].url  # type: ignore[attr-defined]
    assert url.startswith(pair.first + "/v1/images/hosted/")
    response = httpx.get(pair.second + url.removeprefix(pair.first))
    assert response.status_code == 200 and describe(response.content)[:3] == ("png", 256, 256)


def test_a_presigned_url_minted_by_one_replica_is_fetched_from_the_bucket(
    tmp_path: Path, s3_server: S3Server, redis_url: str, redis_prefix: str
) -> None:
    with serve_pair(tmp_path, s3_server, redis_url, redis_prefix, urls="presigned") as presigned:
        result = generate(
            presigned.client(presigned.first), "imagegate-offline", size="256x256", response_format="url"
        )
    url = result.data[0].url  # type: ignore[attr-defined]
    assert url.startswith(s3_server.endpoint_url) and "X-Amz-Signature=" in url
    response = httpx.get(url)  # both gateways are gone: the bucket serves it
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    with run_redis(tmp_path / "redis") as server:
        yield server


def metric(base_url: str, name: str) -> float:
    with urllib.request.urlopen(base_url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{"))


def test_redis_stopped_under_load_fails_no_request_and_is_used_again_when_back(
    tmp_path: Path, s3_server: S3Server, private_redis: RedisServer, redis_prefix: str
) -> None:
    with serve_pair(tmp_path, s3_server, private_redis.url, redis_prefix, urls="gateway") as pair:
        clients = itertools.cycle([pair.client(pair.first), pair.client(pair.second)])
        outcomes: list[str] = []

        def one(client: openai.OpenAI) -> None:
            try:
                generate(client, "imagegate-offline", size="256x256")
                outcomes.append("ok")
            except openai.APIError as error:
                outcomes.append(f"{type(error).__name__}: {error}")

        with concurrent.futures.ThreadPoolExecutor(4) as pool:

            def load(requests: int) -> None:
                list(pool.map(one, [next(clients) for _ in range(requests)]))

            load(12)
            private_redis.stop()
            load(24)  # with Redis gone: limits, budgets and spend in each process
            private_redis.start()
            time.sleep(RETRY_AFTER_SECONDS + 0.2)
            load(12)
        assert outcomes == ["ok"] * 48
        errors = metric(pair.first, "imagegate_shared_state_errors_total")
        errors += metric(pair.second, "imagegate_shared_state_errors_total")
        assert errors >= 2  # each replica noticed (and then left Redis alone for a while)
        client = redis.Redis.from_url(private_redis.url)
        deadline = time.monotonic() + 5
        while not client.keys(redis_prefix + "spend:load:*"):  # written by the background flush
            assert time.monotonic() < deadline, "the restarted Redis was not written to again"
            time.sleep(0.1)
        client.close()


def shared_state(base_url: str) -> dict:
    """The admin details of /readyz about the shared state (loopback callers are admins here); the status
    must stay ready whatever Redis does."""
    response = httpx.get(base_url + "/readyz")
    assert response.status_code == 200 and response.json()["status"] == "ready"
    return response.json()["shared_state"]


def test_readiness_tells_how_each_replica_sees_redis_and_stays_ready(
    tmp_path: Path, s3_server: S3Server, private_redis: RedisServer, redis_prefix: str
) -> None:
    with serve_pair(tmp_path, s3_server, private_redis.url, redis_prefix, urls="gateway") as pair:
        replicas = (pair.first, pair.second)
        for base_url in replicas:
            assert shared_state(base_url) == {"backend": "redis", "healthy": True, "error": None}
            assert httpx.get(base_url + "/readyz").json()["image_store"] == {"backend": "s3"}
        private_redis.stop()
        for base_url in replicas:  # each learns it from its own target-health refresh, not from /readyz
            wait_until(lambda url=base_url: not shared_state(url)["healthy"], "Redis to be seen down")
            assert shared_state(base_url) == {
                "backend": "redis",
                "healthy": False,
                "error": "ConnectionError",
            }
        result = generate(pair.client(pair.first), "imagegate-offline", size="256x256")
        assert result.data  # type: ignore[attr-defined]
        private_redis.start()
        for base_url in replicas:
            wait_until(lambda url=base_url: shared_state(url)["healthy"], "Redis to be seen back")
