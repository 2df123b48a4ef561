"""glibc's malloc set up for a process that moves megabyte images: freed memory is kept for the next request.

With glibc's defaults, a buffer over 128 KB is mapped from the kernel and unmapped when freed, and free memory
at the top of the heap is handed back once it passes a threshold that adapts to the allocation history. A
gateway that reads, verifies and writes a 1.6 MB image per request then faults hundreds of fresh pages in per
request (about 1 ms of CPU on the development VM, coming and going with the history: bench/README.md).
:func:`keep_freed_memory` raises both thresholds, as ``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_``
would: buffers up to 4 MiB come from the heap, and up to 64 MiB of freed heap is kept for reuse. An operator's
own malloc settings win; elsewhere than on glibc nothing changes.
"""

from __future__ import annotations

import ctypes
import os

MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 64 * 1024 * 1024
_M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3
OPERATOR_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


def keep_freed_memory(environ: dict[str, str] | None = None) -> bool:
    """Set this process's malloc thresholds; False (nothing changed) when the environment already sets
    malloc thresholds or the C library is not glibc."""
    environ = dict(os.environ if environ is None else environ)
    if any(name in environ for name in OPERATOR_SETTINGS) or "malloc" in environ.get("GLIBC_TUNABLES", ""):
        return False
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return False
    if not hasattr(libc, "gnu_get_libc_version"):  # not glibc (musl's mallopt does nothing)
        return False
    return bool(
        libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
        and libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    )
