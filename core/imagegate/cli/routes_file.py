"""Which routes file a command uses, and loading it the way a running gateway does."""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from ..config import RouteTable, load_routes
from ..plugins import PluginManager, build_plugin_manager, collect_providers

DEFAULT_ROUTES = "routes.yaml"
ROUTES_VARIABLE = "IMAGEGATE_ROUTES"
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
    return str(resources.files("imagegate").joinpath(DEFAULT_ROUTES)), "the default shipped with imagegate"


def load_table(path: str) -> tuple[RouteTable, PluginManager]:
    """The route table of ``path`` with this environment's plugins, and their manager."""
    manager = build_plugin_manager(os.environ)
    providers = collect_providers(manager)
    return load_routes(path, providers, os.environ, manager.unavailable()), manager
