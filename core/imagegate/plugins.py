"""The plugin manager: one per app, built by the app factory.

Plugins come from the ``imagegate`` entry-point group (first-party providers too) and from objects passed to
``create_app(plugins=...)``. ``IMAGEGATE_DISABLE_PLUGINS`` (comma-separated entry-point names) blocks plugins
before their entry points are loaded, so a broken plugin can be switched off without touching its code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pluggy

from . import hookspecs
from .provider import Provider

DISABLE_VARIABLE = "IMAGEGATE_DISABLE_PLUGINS"


class PluginError(Exception):
    pass


@dataclass(slots=True)
class PluginInfo:
    name: str
    module: str
    distribution: str | None
    version: str | None
    providers: list[str]


def build_plugin_manager(
    environ: Mapping[str, str], extra_plugins: Iterable[object] = ()
) -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    for name in environ.get(DISABLE_VARIABLE, "").split(","):
        if name.strip():
            manager.set_blocked(name.strip())
    manager.load_setuptools_entrypoints(hookspecs.PROJECT)
    for plugin in extra_plugins:
        manager.register(plugin)
    return manager


def collect_providers(manager: pluggy.PluginManager) -> dict[str, Provider]:
    """Ask every plugin for its providers; two providers with one name are an error."""
    providers: dict[str, Provider] = {}

    def register(provider: Provider) -> None:
        if provider.name in providers:
            raise PluginError(f"two plugins register a provider named '{provider.name}'")
        providers[provider.name] = provider

    manager.hook.imagegate_register_providers(register=register)
    return providers


def describe_plugins(manager: pluggy.PluginManager) -> list[PluginInfo]:
    """What is loaded and from where, for ``imagegate plugins``."""
    dists = {id(plugin): dist for plugin, dist in manager.list_plugin_distinfo()}
    infos: list[PluginInfo] = []
    for name, plugin in manager.list_name_plugin():
        if plugin is None:
            continue
        found: list[str] = []
        impl = getattr(plugin, "imagegate_register_providers", None)
        if impl is not None:
            impl(register=lambda provider, found=found: found.append(provider.name))
        dist = dists.get(id(plugin))
        infos.append(
            PluginInfo(
                name=name,
                module=getattr(plugin, "__file__", None) or type(plugin).__module__,
                distribution=dist.project_name if dist is not None else None,
                version=dist.version if dist is not None else None,
                providers=found,
            )
        )
    return infos
