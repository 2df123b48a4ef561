"""``imagegate serve | check | plugins | keys new | usage | new-plugin | prepare-store``."""

from __future__ import annotations

import argparse
import contextlib
import copy
import ipaddress
import json
import os
import re
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from .accesslog import ACCESS_LOGGER
from .clients.keys import key_digest, new_key
from .config import RoutesError, RouteTable, load_routes
from .metrics import MULTIPROCESS_VARIABLE
from .plugins import (
    DISABLE_VARIABLE,
    PluginManager,
    build_plugin_manager,
    collect_providers,
    describe_plugins,
)
from .routes_report import describe_table
from .scaffold import plugin_names, write_plugin

DEFAULT_ROUTES = "routes.yaml"
ROUTES_VARIABLE = "IMAGEGATE_ROUTES"
ADMIN_KEY_VARIABLE = "IMAGEGATE_ADMIN_KEY"
DEFAULT_URL = "http://127.0.0.1:8000"
ROUTES_HELP = (
    f"the routing table: this file, else ${ROUTES_VARIABLE}, else ./{DEFAULT_ROUTES}, else the default table "
    "shipped inside the package"
)


def find_routes(explicit: str | None, environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(path, where it came from) of the routes file to use: ``explicit`` (``--routes``), else
    ``$IMAGEGATE_ROUTES``, else ``./routes.yaml`` if it exists, else the table shipped in the package."""
    environ = os.environ if environ is None else environ
    if explicit:
        return explicit, "given"
    if environ.get(ROUTES_VARIABLE):
        return environ[ROUTES_VARIABLE], f"${ROUTES_VARIABLE}"
    if Path(DEFAULT_ROUTES).is_file():
        return DEFAULT_ROUTES, "found in the current directory"
    return str(resources.files(__package__).joinpath(DEFAULT_ROUTES)), "the default shipped with imagegate"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="imagegate", description="OpenAI-compatible image gateway.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the gateway")
    serve.add_argument("--routes", help=ROUTES_HELP)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--log-level", default="info")
    check = commands.add_parser("check", help="validate a routes file and print the resolved table")
    check.add_argument("routes", nargs="?", help=ROUTES_HELP)
    check.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also show each target's full capabilities and what the core adapts for it",
    )
    commands.add_parser("plugins", help="list loaded plugins and their providers")
    scaffold = commands.add_parser(
        "new-plugin", help="write a complete provider plugin package, with tests, to start from"
    )
    scaffold.add_argument("name", help="the provider's name (plugin: NAME in routes.yaml), e.g. acme")
    scaffold.add_argument("directory", nargs="?", help="where to write it (default: ./imagegate-NAME)")
    keys = commands.add_parser("keys", help="client API keys").add_subparsers(
        dest="keys_command", required=True
    )
    new = keys.add_parser(
        "new", help="print a fresh key for a client, and its key_sha256 line for routes.yaml"
    )
    new.add_argument("name", help="the client's name under clients: in routes.yaml")
    usage = commands.add_parser(
        "usage",
        help=f"images and USD per client from a running gateway (admin key from ${ADMIN_KEY_VARIABLE})",
    )
    usage.add_argument("--url", default=DEFAULT_URL, help=f"the gateway's base URL (default {DEFAULT_URL})")
    prepare = commands.add_parser(
        "prepare-store",
        help="create the S3 bucket of server.image_store if it is missing and set its lifecycle rule",
    )
    prepare.add_argument("--routes", help=ROUTES_HELP)
    prepare.add_argument(
        "--wait",
        type=float,
        default=0.0,
        help="keep trying this many seconds while the store does not answer",
    )
    args = parser.parse_args(argv)
    if args.command == "prepare-store":
        return _prepare_store(find_routes(args.routes)[0], args.wait)
    if args.command == "serve":
        return _serve(args)
    if args.command == "check":
        return _check(args.routes, args.verbose)
    if args.command == "new-plugin":
        return _new_plugin(args.name, args.directory)
    if args.command == "keys":
        return _new_key(args.name)
    if args.command == "usage":
        return _usage(args.url)
    return _plugins()


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .serving import uvicorn_options

    routes, origin = find_routes(args.routes)
    try:  # refuse a broken file before binding the port
        table, _ = _load(routes)
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


def workers_warning(table: RouteTable, workers: int) -> str | None:
    """What to tell an operator who runs several workers with each keeping its own state, or ``None``."""
    if workers <= 1 or table.server.shared_state is not None:
        return None
    return (
        f"--workers {workers} without server.shared_state: each worker keeps its own client rate limits, "
        "budget spend and target cooldowns, so limits are counted per worker and a target cooling down in one "
        "worker is still called by the others; set server.shared_state (Redis, docs/replicas.md)"
    )


def _prepare_store(path: str, wait_seconds: float) -> int:
    """Run once per deployment (a compose service, a Kubernetes Job), with credentials allowed to create
    buckets and set lifecycle rules; the gateway then needs only object rights."""
    from .store.s3 import apply_lifecycle_rule, create_bucket_if_missing

    try:
        table, _ = _load(path)
    except RoutesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    store = table.server.image_store
    if store.s3 is None:
        print(f"the image store is the local directory {store.directory}: nothing to prepare")
        return 0
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            created = create_bucket_if_missing(store.s3)
            break
        except Exception as error:  # botocore's errors: the store is not up yet, or refuses
            if time.monotonic() >= deadline:
                print(f"error: bucket {store.s3.bucket}: {error}", file=sys.stderr)
                return 1
            time.sleep(1)
    print(f"bucket {store.s3.bucket}: {'created' if created else 'exists'}")
    if not apply_lifecycle_rule(store.s3, store.ttl_seconds):
        print("lifecycle rule: not set (see the warning above); the gateways' own cleanup expires images")
        return 0
    print(
        f"lifecycle rule: objects under {store.s3.prefix!r} expire after the TTL ({store.ttl_seconds} s, in whole days)"
    )
    return 0


def open_access_warning(table: RouteTable, host: str, port: int) -> str | None:
    """What to tell an operator who serves beyond loopback without client keys, or ``None``."""
    if table.clients is not None or _is_loopback(host):
        return None
    return (
        f"{table.source} has no clients: section, so anyone who reaches {host}:{port} can use the gateway "
        "(and its upstream accounts) without a key; add clients to require keys (docs/clients.md)"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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


def app_from_environment():  # type: ignore[no-untyped-def]
    """The uvicorn factory used by ``serve`` (each worker process builds its own app)."""
    from .allocator import keep_freed_memory
    from .app import create_app

    keep_freed_memory()
    return create_app(find_routes(None)[0])


def _load(path: str) -> tuple[RouteTable, PluginManager]:
    manager = build_plugin_manager(os.environ)
    providers = collect_providers(manager)
    return load_routes(path, providers, os.environ, manager.unavailable()), manager


def _check(explicit: str | None, verbose: bool) -> int:
    """Validate the routes file exactly as a running gateway validates a reload (the same loader): exit 0
    when a reload would take it, 1 when it would keep the old table."""
    path, _ = find_routes(explicit)
    try:
        table, manager = _load(path)
    except RoutesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for line in describe_table(table, verbose=verbose):
        print(line)
    needed = {account.provider.name for account in table.accounts.values()}
    for failure in manager.failures:
        use = "needed by this file" if failure.name in needed else "not used by this file"
        print(f"  plugin {failure.name} ({failure.origin}) FAILED to load, {use}: {failure.error}")
    for name in manager.blocked:
        use = "needed by this file" if name in needed else "not used by this file"
        print(f"  plugin {name} is blocked by {DISABLE_VARIABLE}, {use}")
    return 0


def _new_key(name: str) -> int:
    key = new_key()
    print(f"API key for client '{name}' (shown this once; give it to the client, it is not stored):")
    print(f"  {key}")
    print("Add to routes.yaml:")
    print("clients:")
    print(f"  {name if re.fullmatch(r'[A-Za-z0-9_.-]+', name) else json.dumps(name)}:")
    print(f'    key_sha256: "{key_digest(key).hex()}"')
    return 0


def _usage(url: str) -> int:
    """Print ``GET /admin/usage`` of the gateway at ``url`` as a table."""
    request = urllib.request.Request(url.rstrip("/") + "/admin/usage")
    admin_key = os.environ.get(ADMIN_KEY_VARIABLE)
    if admin_key:
        request.add_header("Authorization", f"Bearer {admin_key}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            rows = json.load(response)["data"]
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        with contextlib.suppress(ValueError, KeyError, TypeError):
            detail = json.loads(detail)["error"]["message"]
        print(f"error: {url} answered HTTP {exc.code}: {detail}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"error: cannot reach {url}: {getattr(exc, 'reason', exc)}", file=sys.stderr)
        return 1
    if not rows:
        print("no clients (routes.yaml has no clients: section)")
        return 0
    header = ("client", "period", "images", "usd", "budget_usd", "remaining_usd", "images/min")
    table = [header] + [
        (
            row["client"],
            row["period_key"],
            str(row["images"]),
            f"{row['usd']:.4f}",
            "-" if row["budget_usd"] is None else f"{row['budget_usd']:g}",
            "-" if row["remaining_usd"] is None else f"{row['remaining_usd']:.4f}",
            "-" if row["images_per_minute"] is None else str(row["images_per_minute"]),
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
    return 0


def _new_plugin(name: str, directory: str | None) -> int:
    try:
        names = plugin_names(name)
        target = Path(directory or names.dist)
        written = write_plugin(name, target)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote the plugin package {names.dist} in {target}/ ({len(written)} files):")
    for path in written:
        print(f"  {path.relative_to(target)}")
    print("next:")
    print(f"  cd {target}")
    print('  pip install -e ".[test]"   # imagegate finds the plugin through its entry point')
    print("  pytest                     # it works as written, against a made-up upstream")
    print(f"then make {names.module}/provider.py speak your upstream (its TODOs; docs/plugins.md)")
    return 0


def _plugins() -> int:
    manager = build_plugin_manager(os.environ)
    collect_providers(manager)
    for info in describe_plugins(manager):
        origin = f"{info.distribution} {info.version}" if info.distribution else "registered directly"
        providers = ", ".join(info.providers) or "no providers"
        print(f"{info.name}: {providers}  [{origin}] {info.module}")
    for failure in manager.failures:
        print(f"{failure.name}: FAILED to load  [{failure.origin}] {failure.error}")
    if manager.failures:
        names = ",".join(failure.name for failure in manager.failures if failure.blockable)
        hint = f"; to stop loading the failed ones: {DISABLE_VARIABLE}={names}" if names else ""
        print(f"(the other plugins serve{hint})")
    if manager.blocked:
        print(f"blocked: {', '.join(manager.blocked)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
