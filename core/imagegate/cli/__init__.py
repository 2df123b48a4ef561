"""``imagegate serve | check | plugins | keys new | usage | new-plugin | prepare-store``.

One module per command, or per pair of related ones: :mod:`.serve`, :mod:`.inspection` (``check``,
``plugins``), :mod:`.clients` (``keys new``, ``usage``), :mod:`.new_plugin`, :mod:`.prepare_store`; and
:mod:`.routes_file`, which finds the routes file and loads it as the gateway does.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .clients import ADMIN_KEY_VARIABLE, DEFAULT_URL, new_client_key, usage
from .inspection import check, list_plugins
from .new_plugin import new_plugin
from .prepare_store import prepare_store
from .routes_file import ROUTES_HELP, find_routes
from .serve import app_from_environment, open_access_warning, serve, workers_warning

__all__ = ["app_from_environment", "find_routes", "main", "open_access_warning", "workers_warning"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="imagegate", description="OpenAI-compatible image gateway.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_command = commands.add_parser("serve", help="serve the gateway")
    serve_command.add_argument("--routes", help=ROUTES_HELP)
    serve_command.add_argument("--host", default="127.0.0.1")
    serve_command.add_argument("--port", type=int, default=8000)
    serve_command.add_argument("--workers", type=int, default=1)
    serve_command.add_argument("--log-level", default="info")
    check_command = commands.add_parser("check", help="validate a routes file and print the resolved table")
    check_command.add_argument("routes", nargs="?", help=ROUTES_HELP)
    check_command.add_argument(
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
    usage_command = commands.add_parser(
        "usage",
        help=f"images and USD per client from a running gateway (admin key from ${ADMIN_KEY_VARIABLE})",
    )
    usage_command.add_argument(
        "--url", default=DEFAULT_URL, help=f"the gateway's base URL (default {DEFAULT_URL})"
    )
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
    try:
        return _run(args)
    except BrokenPipeError:
        # Whoever read the output left (`imagegate plugins | head`): not worth a traceback. Standard output
        # now goes nowhere, so the flush at exit cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _run(args: argparse.Namespace) -> int:
    if args.command == "prepare-store":
        return prepare_store(find_routes(args.routes)[0], args.wait)
    if args.command == "serve":
        return serve(args)
    if args.command == "check":
        return check(args.routes, args.verbose)
    if args.command == "new-plugin":
        return new_plugin(args.name, args.directory)
    if args.command == "keys":
        return new_client_key(args.name)
    if args.command == "usage":
        return usage(args.url)
    return list_plugins()
