"""``imagegate check`` and ``imagegate plugins``: what a routes file and the installed plugins amount to."""

from __future__ import annotations

import os
import sys

from ..config import RoutesError
from ..plugins import DISABLE_VARIABLE, build_plugin_manager, collect_providers, describe_plugins
from ..routes_report import describe_table
from .routes_file import find_routes, load_table


def check(explicit: str | None, verbose: bool) -> int:
    """Validate the routes file exactly as a running gateway validates a reload (the same loader): exit 0
    when a reload would take it, 1 when it would keep the old table."""
    path, _ = find_routes(explicit)
    try:
        table, manager = load_table(path)
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


def list_plugins() -> int:
    manager = build_plugin_manager(os.environ)
    collect_providers(manager)
    for info in describe_plugins(manager):
        providers = ", ".join(info.providers) or "no providers"
        print(f"{info.name}: {providers}  [{info.origin}] {info.module}")
    for failure in manager.failures:
        print(f"{failure.name}: FAILED to load  [{failure.origin}] {failure.error}")
    if manager.failures:
        names = ",".join(failure.name for failure in manager.failures if failure.blockable)
        hint = f"; to stop loading the failed ones: {DISABLE_VARIABLE}={names}" if names else ""
        print(f"(the other plugins serve{hint})")
    if manager.blocked:
        print(f"blocked: {', '.join(manager.blocked)}")
    return 0
