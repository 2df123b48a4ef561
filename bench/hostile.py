"""Hostile clients against a real ``imagegate serve``: decompression bombs and slow connections.

```sh
python -m bench.hostile bomb              # one bomb, then 8 at once: status, wall time, server CPU, peak RSS
python -m bench.hostile slow              # how long idle, trickling and stalled connections are held, and
                                          # what 1,500 idle connections do to a normal request
python -m bench.hostile bomb --gateway-src /path/to/other/checkout   # the same against another source tree
```

The gateway serves the offline model (``routes.yaml`` written to a temporary directory) on a free loopback
port, as its own process; CPU time and memory come from ``/proc`` (see :mod:`bench.procs`). The bomb is a
20 KB PNG that declares 13000x13000 pixels (1-bit, 169 Mpx: under Pillow's own limit of 178 Mpx), sent to
``/v1/images/variations``. A run is stopped if the server's RSS passes ``--rss-cap-mb``, so the shared machine
is not taken down by the "before" figures.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

from .procs import RssSampler, Service, free_port, http_get, http_post, reset_peak_rss, rss_bytes, usage

ROUTES = """
server:
  image_store: {{directory: "{store}"}}
providers:
  local: {{plugin: offline}}
models:
  imagegate-offline: [{{provider: local}}]
"""
BOUNDARY = "hostileboundary"


def bomb_png(side: int = 13000) -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (side, side)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def variation_body(png: bytes) -> bytes:
    return (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="model"\r\n\r\nimagegate-offline\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="bomb.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + png
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


def start_gateway(directory: Path, source: str | None) -> tuple[Service, str]:
    routes = directory / "routes.yaml"
    routes.write_text(ROUTES.format(store=directory / "images"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    script = shutil.which("imagegate")
    program = [script] if script and not source else [sys.executable, "-m", "imagegate.cli"]
    env = dict(os.environ)
    if source:  # that tree's core, plugins and example plugin (the installed one may not fit an older core)
        root = Path(source).resolve()
        paths = [root / "core", root / "plugins", root / "examples" / "imagegate-pixelworks"]
        env["PYTHONPATH"] = os.pathsep.join(str(path) for path in paths)
    command = [*program, "serve", "--routes", str(routes), "--port", str(port), "--log-level", "warning"]
    service = Service("gateway", command, base + "/readyz", directory / "gateway.log", env)
    service.start()
    return service, base


def run_bombs(service: Service, base: str, count: int, body: bytes, rss_cap: int) -> None:
    content_type = f"multipart/form-data; boundary={BOUNDARY}"
    reset_peak_rss(service.pid)
    before = usage(service.pid)
    started = time.perf_counter()
    results: list[tuple[int, float]] = []

    def one() -> None:
        sent = time.perf_counter()
        status, _ = http_post(base + "/v1/images/variations", body, content_type, timeout=600)
        results.append((status, time.perf_counter() - sent))

    stop = threading.Event()

    def guard() -> None:  # the old code can take gigabytes per bomb: stop before the machine suffers
        while not stop.wait(0.05):
            if rss_bytes(service.pid) > rss_cap:
                print(f"  RSS passed {rss_cap >> 20} MB: stopping the server", file=sys.stderr)
                service.stop()
                return

    watcher = threading.Thread(target=guard, daemon=True)
    watcher.start()
    with RssSampler(service.pid) as sampler, ThreadPoolExecutor(count) as pool:
        for future in [pool.submit(one) for _ in range(count)]:
            try:
                future.result()
            except OSError as exc:
                results.append((0, time.perf_counter() - started))
                print(f"  request failed: {exc}", file=sys.stderr)
    stop.set()
    watcher.join()
    cpu = (usage(service.pid) - before).cpu_seconds if service.process.poll() is None else float("nan")
    statuses = sorted({status for status, _ in results})
    slowest = max(seconds for _, seconds in results)
    print(
        f"  {count} bomb(s): statuses {statuses}, slowest answer {slowest * 1000:.0f} ms, "
        f"server CPU {cpu:.2f} s, peak RSS {sampler.peak / 2**20:.0f} MB"
    )


def bomb(args: argparse.Namespace, directory: Path) -> None:
    png = bomb_png()
    body = variation_body(png)
    print(f"bomb: {len(png)} byte PNG declaring 13000x13000 (1-bit palette)")
    for count in args.counts:
        service, base = start_gateway(directory, args.gateway_src)
        try:
            print(f"  idle RSS {rss_bytes(service.pid) / 2**20:.0f} MB")
            run_bombs(service, base, count, body, args.rss_cap_mb << 20)
        finally:
            service.stop()


def held_for(base: str, payload: list[bytes], interval: float, cap: float) -> tuple[float, bytes]:
    """Open a connection, send ``payload`` pieces ``interval`` seconds apart (then nothing), and return how
    long the server kept the connection open (``cap`` if it still was) and the start of its answer."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.settimeout(0.05)
    started = time.perf_counter()
    answer = b""
    pieces = list(payload)
    next_send = started
    try:
        while time.perf_counter() - started < cap:
            if pieces and time.perf_counter() >= next_send:
                try:
                    sock.sendall(pieces.pop(0))
                except OSError:
                    break
                next_send += interval
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
            answer += chunk
        return time.perf_counter() - started, answer.split(b"\r\n", 1)[0]
    finally:
        sock.close()


def slow(args: argparse.Namespace, directory: Path) -> None:
    service, base = start_gateway(directory, args.gateway_src)
    head = b"POST /v1/images/generations HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
    cap = args.cap_seconds
    cases = {
        "connects and sends nothing": ([], 1.0),
        "trickles its headers, one byte a second": ([bytes([b]) for b in head * 10], 1.0),
        "sends its headers, then none of its 100-byte body": ([head + b"Content-Length: 100\r\n\r\n"], 1.0),
    }
    try:
        for name, (payload, interval) in cases.items():
            seconds, status = held_for(base, payload, interval, cap)
            held = f">= {cap:g} s (still open)" if seconds >= cap else f"{seconds:.1f} s"
            print(f"  a client that {name}: held {held}; answer: {status.decode('latin-1') or 'none'}")
        big = head + b"X-Big: " + b"a" * (10 * 2**20) + b"\r\n\r\n"
        seconds, status = held_for(base, [big], 0.0, cap)
        print(f"  a 10 MB request header: {status.decode('latin-1') or 'no answer'} after {seconds:.1f} s")
        crowd(base, args.crowd, cap)
    finally:
        service.stop()


def crowd(base: str, count: int, cap: float) -> None:
    """``count`` connections that send nothing: what a normal request gets meanwhile, and how many of them
    the gateway still holds open after ``cap`` seconds."""
    host, port = base.removeprefix("http://").split(":")
    sockets = [socket.create_connection((host, int(port))) for _ in range(count)]
    try:
        status, _ = http_get(base + "/healthz", timeout=30)
        time.sleep(cap)
        open_ = 0
        for sock in sockets:
            sock.setblocking(False)
            try:
                open_ += sock.recv(1) != b""
            except BlockingIOError:
                open_ += 1  # nothing to read, not closed
            except OSError:
                pass
        print(
            f"  {count} connections that send nothing: a request meanwhile got HTTP {status}; "
            f"{open_} of them still open after {cap:g} s"
        )
    finally:
        for sock in sockets:
            sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.hostile", description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("bomb", "slow"))
    parser.add_argument("--gateway-src", help="serve the gateway from this source tree instead")
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 8], help="bombs sent at once, per run")
    parser.add_argument("--rss-cap-mb", type=int, default=10_000)
    parser.add_argument("--cap-seconds", type=float, default=120.0, help="longest a slow client is watched")
    parser.add_argument("--crowd", type=int, default=1500, help="idle connections opened at once (slow)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="imagegate-hostile-") as tmp:
        (bomb if args.what == "bomb" else slow)(args, Path(tmp))


if __name__ == "__main__":
    main()
