"""``imagegate serve``: the gateway under uvicorn, one app per worker process."""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..accesslog import ACCESS_LOGGER
from ..clients.auth import is_loopback_host
from ..config import RoutesError, RouteTable
from ..metrics import MULTIPROCESS_VARIABLE
from .routes_file import ROUTES_VARIABLE, find_routes, load_table


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from ..serving import uvicorn_options

    routes, origin = find_routes(args.routes)
    try:  # refuse a broken file before binding the port
        table, _ = load_table(routes)
    except RoutesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"imagegate: routes from {Path(routes).resolve()} ({origin})", file=sys.stderr)
    for warning in (open_access_warning(table, args.host, args.port), workers_warning(table, args.workers)):
        if warning is not None:
            print(f"warning: {warning}", file=sys.stderr)
    os.environ[ROUTES_VARIABLE] = routes
    with contextlib.ExitStack() as cleanup:
        if args.workers > 1 and MULTIPROCESS_VARIABLE not in os.environ:
            # Each worker counts its metrics in files here; /metrics adds them up (imagegate.metrics).
            os.environ[MULTIPROCESS_VARIABLE] = cleanup.enter_context(
                tempfile.TemporaryDirectory(prefix="imagegate-metrics-")
            )
        uvicorn.run(
            "imagegate.cli:app_from_environment",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=args.log_level,
            log_config=_log_config(args.log_level),
            access_log=False,  # the gateway writes its own access line, with more in it (docs/routing.md)
            timeout_graceful_shutdown=30,
            **uvicorn_options(table.server.connections),
        )
    return 0


def app_from_environment():  # type: ignore[no-untyped-def]
    """The uvicorn factory used by ``serve`` (each worker process builds its own app)."""
    from ..allocator import keep_freed_memory
    from ..app import create_app

    keep_freed_memory()
    return create_app(find_routes(None)[0])


def workers_warning(table: RouteTable, workers: int) -> str | None:
    """What to tell an operator who runs several workers with each keeping its own state, or ``None``."""
    if workers <= 1 or table.server.shared_state is not None:
        return None
    return (
        f"--workers {workers} without server.shared_state: each worker keeps its own client rate limits, "
        "budget spend and target cooldowns, so limits are counted per worker and a target cooling down in one "
        "worker is still called by the others; set server.shared_state (Redis, docs/replicas.md)"
    )


def open_access_warning(table: RouteTable, host: str, port: int) -> str | None:
    """What to tell an operator who serves beyond loopback without client keys, or ``None``."""
    if table.clients is not None or is_loopback_host(host):
        return None
    return (
        f"{table.source} has no clients: section, so anyone who reaches {host}:{port} can use the gateway "
        "(and its upstream accounts) without a key; add clients to require keys (docs/clients.md)"
    )


def _log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, plus the gateway's: its messages on stderr, its JSON access lines alone on stdout
    (uvicorn's own access log is off)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["json_line"] = {"format": "%(message)s"}
    config["handlers"]["json_lines"] = {
        "formatter": "json_line",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stdout",
    }
    config["loggers"]["uvicorn.access"]["handlers"] = []  # stdout: the JSON lines only
    config["loggers"]["imagegate"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    config["loggers"][ACCESS_LOGGER] = {"handlers": ["json_lines"], "level": "INFO", "propagate": False}
    return config
