"""``imagegate serve`` keeps freed memory for the next request: the page faults a megabyte-moving request
pattern costs with glibc's defaults, and without them (counted by the kernel, not timed)."""

from __future__ import annotations

import ctypes
import subprocess
import sys

import pytest
from imagegate.allocator import keep_freed_memory

GLIBC = hasattr(ctypes.CDLL(None), "gnu_get_libc_version")

# Three 1 MB buffers alive at once and then freed, as a request holds an upstream body, its chunks and more;
# prints the minor page faults per request after a warm-up.
PATTERN = """
import resource, sys
from imagegate.allocator import keep_freed_memory
if sys.argv[1] == "kept":
    assert keep_freed_memory()
def request():
    buffers = [b"x" * (1024 * 1024) for _ in range(3)]
    del buffers
for _ in range(5):
    request()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    request()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 50)
"""


def faults_per_request(mode: str) -> float:
    env = {"PATH": "/usr/bin:/bin"}  # no MALLOC_* settings from the developer's environment
    done = subprocess.run([sys.executable, "-c", PATTERN, mode], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    return float(done.stdout)


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")
def test_freed_megabytes_are_reused_instead_of_faulted_in_again() -> None:
    assert faults_per_request("default") > 200  # three megabytes handed back and faulted in each time
    assert faults_per_request("kept") < 10


def test_an_operators_malloc_settings_win() -> None:
    assert keep_freed_memory({"MALLOC_TRIM_THRESHOLD_": "131072"}) is False
    assert keep_freed_memory({"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=65536"}) is False
