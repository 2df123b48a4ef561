"""Processes under test: start, wait until ready, stop; CPU time and memory read from /proc (Linux only).

Figures cover a process and all its descendants, so ``--workers N`` counts every worker.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (those still alive)."""
    found = [pid]
    index = 0
    while index < len(found):
        current = found[index]
        index += 1
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{current}/task"):
                with contextlib.suppress(OSError):
                    found.extend(
                        int(child)
                        for child in Path(f"/proc/{current}/task/{task}/children").read_text().split()
                    )
    return found


def _status_kb(pid: int, field: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def rss_bytes(pid: int) -> int:
    return sum(_status_kb(each, "VmRSS") for each in process_tree(pid)) * PAGE_KB


def peak_rss_bytes(pid: int) -> int:
    """The high-water mark of resident memory since the last :func:`reset_peak_rss` (summed over the tree)."""
    return sum(_status_kb(each, "VmHWM") for each in process_tree(pid)) * PAGE_KB


def reset_peak_rss(pid: int) -> bool:
    """Reset the kernel's RSS high-water mark (``clear_refs`` 5); False where the kernel refuses."""
    try:
        for each in process_tree(pid):
            Path(f"/proc/{each}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Usage:
    cpu_seconds: float
    minor_faults: int  # pages the kernel had to map in (fresh memory touched for the first time)

    def __sub__(self, other: Usage) -> Usage:
        return Usage(self.cpu_seconds - other.cpu_seconds, self.minor_faults - other.minor_faults)


def usage(pid: int) -> Usage:
    """CPU time and minor page faults so far of ``pid`` and its descendants."""
    ticks = faults = 0
    for each in process_tree(pid):
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{each}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()  # fields[0] is field 3 of proc(5)
            faults += int(fields[7])
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return Usage(ticks / CLOCK_TICKS, faults)


def machine_busy_seconds() -> float:
    """CPU time all cores spent on anything but idling, since boot (/proc/stat)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def own_cpu_seconds() -> float:
    """CPU time of this process alone (not its children)."""
    stat = Path("/proc/self/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class RssSampler:
    """Samples a process tree's RSS every ``interval`` seconds in a thread; ``peak`` is the largest sample."""

    def __init__(self, pid: int, interval: float = 0.01) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(self.pid))
            self._stop.wait(self.interval)


class Service:
    """A server process started from ``command``, ready once ``ready_url`` answers 200."""

    def __init__(
        self, name: str, command: list[str], ready_url: str, log_path: Path, env: dict[str, str]
    ) -> None:
        self.name = name
        self.command = command
        self.ready_url = ready_url
        self.log_path = log_path
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.seconds_to_ready = 0.0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 30.0) -> float:
        """Start and wait until ready; returns the seconds from spawning the process to its first 200."""
        with self.log_path.open("ab") as log:
            started = time.perf_counter()
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        deadline = started + timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log_path}")
            try:
                if http_get(self.ready_url, timeout=1)[0] == 200:
                    self.seconds_to_ready = time.perf_counter() - started
                    return self.seconds_to_ready
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.005)
        self.stop()
        raise RuntimeError(f"{self.name} was not ready within {timeout:g} s; see {self.log_path}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def http_get(url: str, timeout: float = 30.0) -> tuple[int, bytes]:
    """GET without any proxy from the environment (everything here is on loopback)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def http_post(url: str, body: bytes, content_type: str, timeout: float = 60.0) -> tuple[int, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": content_type, "Authorization": "Bearer bench-key"},
    )
    try:
        with opener.open(request, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
