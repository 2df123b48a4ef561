"""``imagegate serve | check | plugins``."""

from __future__ import annotations

import argparse
import copy
import os
import sys
from collections.abc import Sequence
from typing import Any

from .accesslog import ACCESS_LOGGER
from .config import RoutesError, RouteTable, load_routes
from .plugins import build_plugin_manager, collect_providers, describe_plugins

DEFAULT_ROUTES = "routes.yaml"
ROUTES_VARIABLE = "IMAGEGATE_ROUTES"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="imagegate", description="OpenAI-compatible image gateway.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the gateway")
    serve.add_argument("--routes", default=os.environ.get(ROUTES_VARIABLE, DEFAULT_ROUTES))
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--log-level", default="info")
    check = commands.add_parser("check", help="validate a routes file and print the resolved table")
    check.add_argument("routes", nargs="?", default=os.environ.get(ROUTES_VARIABLE, DEFAULT_ROUTES))
    commands.add_parser("plugins", help="list loaded plugins and their providers")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "check":
        return _check(args.routes)
    return _plugins()


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    try:  # refuse a broken file before binding the port
        _load(args.routes)
    except RoutesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    os.environ[ROUTES_VARIABLE] = args.routes
    uvicorn.run(
        "imagegate.cli:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        log_config=_log_config(args.log_level),
        timeout_graceful_shutdown=30,
    )
    return 0


def _log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, plus the gateway's: its messages on stderr, its JSON access lines alone on stdout."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["json_line"] = {"format": "%(message)s"}
    config["handlers"]["json_lines"] = {
        "formatter": "json_line",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stdout",
    }
    config["handlers"]["access"]["stream"] = "ext://sys.stderr"  # stdout: the JSON lines only
    config["loggers"]["imagegate"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    config["loggers"][ACCESS_LOGGER] = {"handlers": ["json_lines"], "level": "INFO", "propagate": False}
    return config


def app_from_environment():  # type: ignore[no-untyped-def]
    """The uvicorn factory used by ``serve`` (each worker process builds its own app)."""
    from .app import create_app

    return create_app(os.environ.get(ROUTES_VARIABLE, DEFAULT_ROUTES))


def _load(path: str) -> RouteTable:
    manager = build_plugin_manager(os.environ)
    return load_routes(path, collect_providers(manager), os.environ)


def _check(path: str) -> int:
    """Validate ``path`` exactly as a running gateway validates a reload (the same loader): exit 0 when a
    reload would take it, 1 when it would keep the old table."""
    try:
        table = _load(path)
    except RoutesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    routes = {id(route): route for route in table.models.values()}
    print(f"{table.source}: OK ({len(routes)} models, {len(table.accounts)} provider accounts)")
    for name, account in table.accounts.items():
        status = "ready" if account.problem is None else f"NOT USABLE: {account.problem}"
        print(f"  account {name} (plugin {account.provider.name}): {status}")
    for route in routes.values():
        retry, cooldown = route.retry, route.cooldown
        aliases = f" (aliases: {', '.join(route.aliases)})" if route.aliases else ""
        print(f"  model {route.model}{aliases} [{route.strategy}]")
        print(
            f"    retry: {retry.max_attempts} attempts per target, deadline {retry.deadline_seconds:g} s; "
            f"cooldown: {cooldown.failures} failures in {cooldown.window_seconds:g} s -> "
            f"{cooldown.duration_seconds:g} s"
            + ("; falls back on content-policy refusals" if route.fallback_on_content_policy else "")
        )
        for target in route.targets:
            caps = target.capabilities
            weight = f" weight={target.weight:g}" if route.strategy == "weighted" else ""
            print(
                f"    -> {target.label}{weight}  ops={','.join(sorted(caps.operations))} "
                f"sizes: {caps.sizes.describe()}"
            )
    return 0


def _plugins() -> int:
    manager = build_plugin_manager(os.environ)
    for info in describe_plugins(manager):
        origin = f"{info.distribution} {info.version}" if info.distribution else "registered directly"
        providers = ", ".join(info.providers) or "no providers"
        print(f"{info.name}: {providers}  [{origin}] {info.module}")
    blocked = [name for name in os.environ.get("IMAGEGATE_DISABLE_PLUGINS", "").split(",") if name.strip()]
    if blocked:
        print(f"blocked: {', '.join(blocked)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
