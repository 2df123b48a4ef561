"""Hot reload of routes.yaml: on a change of its content (checked every ``server.reload_check_seconds``) and on
SIGHUP.

The new file is loaded in full by the same function as at start-up and as ``imagegate check``, so all three
give one verdict. A table that loads is swapped into :class:`RouteState` in one assignment: requests already
running keep the table they started with. A file that does not load leaves the running table in place; the
error is logged and shown on ``/readyz`` until a later version of the file loads.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import signal
from collections.abc import Callable
from pathlib import Path

from .config import RoutesError, RouteState, RouteTable

log = logging.getLogger("imagegate")


def file_fingerprint(path: Path) -> bytes | None:
    """A digest of the file's content, or ``None`` when it cannot be read."""
    try:
        return hashlib.sha256(path.read_bytes()).digest()
    except OSError:
        return None


class RouteReloader:
    def __init__(
        self,
        path: Path,
        state: RouteState,
        load: Callable[[], RouteTable],
        on_swap: Callable[[RouteTable], None] = lambda table: None,
        loaded_fingerprint: bytes | None = None,
        settle_seconds: float = 0.1,
    ) -> None:
        """``load`` reads and validates the file (raising :class:`RoutesError`); ``on_swap`` is told of each new
        table; ``loaded_fingerprint`` is the fingerprint of the file the running table came from; a changed file
        is loaded once two reads ``settle_seconds`` apart agree."""
        self.path = path
        self.settle_seconds = settle_seconds
        self.state = state
        self._load = load
        self._on_swap = on_swap
        self._seen = loaded_fingerprint if loaded_fingerprint is not None else file_fingerprint(path)
        self._hangup = asyncio.Event()
        self._signal_loop: asyncio.AbstractEventLoop | None = None

    async def check(self) -> bool | None:
        """Reload if the file changed since it was last seen: ``None`` when unchanged, else whether the new
        content was taken."""
        fingerprint = await self._settled_fingerprint()
        if fingerprint == self._seen:
            return None
        self._seen = fingerprint  # a broken version is reported once, not at every check
        return await self.reload()

    async def _settled_fingerprint(self) -> bytes | None:
        """The file's fingerprint; when it differs from the last one seen, only once two reads a moment apart
        agree, so a file caught while an editor or ``cat >`` is still writing it (empty, or cut at a line that
        happens to leave valid YAML) is never loaded."""
        current = await asyncio.to_thread(file_fingerprint, self.path)
        while current != self._seen:
            await asyncio.sleep(self.settle_seconds)
            again = await asyncio.to_thread(file_fingerprint, self.path)
            if again == current:
                break
            current = again
        return current

    async def reload(self) -> bool:
        """Load the file now; swap it in if it is valid, else keep the running table and record why."""
        try:
            table = await asyncio.to_thread(self._load)
        except RoutesError as exc:
            return self._refuse(str(exc))
        except Exception as exc:  # a plugin failing while the file is validated must not stop the gateway
            log.exception("validating %s failed", self.path)
            # Its text may quote the file: /readyz gets the exception's type, the log has the rest.
            return self._refuse(
                f"{self.path}: validating the file failed ({type(exc).__name__}); see the log"
            )
        self.state.table = table
        self.state.reload_error = None
        self._on_swap(table)
        log.info("reloaded %s: %d models", self.path, len(table.models))
        return True

    def _refuse(self, reason: str) -> bool:
        self.state.reload_error = reason
        log.error("routes not reloaded, the running table stays: %s", reason)
        return False

    async def run(self) -> None:
        """Check the file periodically and reload on SIGHUP, until cancelled."""
        while True:
            interval = self.state.table.server.reload_check_seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._hangup.wait(), timeout=interval or None)
            try:
                if self._hangup.is_set():
                    self._hangup.clear()
                    self._seen = await asyncio.to_thread(file_fingerprint, self.path)
                    await self.reload()
                else:
                    await self.check()
            except Exception:
                log.exception("checking %s for changes failed", self.path)

    def request_reload(self) -> None:
        """What SIGHUP does: reload at once, changed or not."""
        self._hangup.set()

    def install_signal_handler(self) -> bool:
        """Reload on SIGHUP; possible only in the main thread of a platform with SIGHUP."""
        hangup = getattr(signal, "SIGHUP", None)
        if hangup is None:
            return False
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(hangup, self.request_reload)
        except (RuntimeError, ValueError, NotImplementedError):
            log.debug("SIGHUP reload unavailable here (not the main thread)")
            return False
        self._signal_loop = loop
        return True

    def remove_signal_handler(self) -> None:
        if self._signal_loop is not None:
            self._signal_loop.remove_signal_handler(signal.SIGHUP)
            self._signal_loop = None
