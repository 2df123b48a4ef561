"""The plugin manager: one per app, built by the app factory.

Plugins come from the ``imagegate`` entry-point group (first-party providers too) and from objects passed to
``create_app(plugins=...)``. ``IMAGEGATE_DISABLE_PLUGINS`` (comma-separated entry-point names) blocks plugins
before their entry points are loaded, so a broken plugin can be switched off without touching its code.

Failures are contained: an entry-point plugin that cannot be imported, declares plugin API versions this
imagegate does not provide, cannot be registered, or fails while registering its providers is logged with its
distribution and the error, recorded in :attr:`PluginManager.failures` (shown by ``imagegate plugins``,
``imagegate check`` and ``/readyz``) and skipped; every other plugin still serves. Objects passed directly by
the caller are code under the caller's control: their failures raise :class:`PluginError`.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pluggy

from . import hookspecs
from .provider import Provider

DISABLE_VARIABLE = "IMAGEGATE_DISABLE_PLUGINS"
FIRST_PARTY_DISTRIBUTION = "imagegate"  # its plugins load first, so they keep their names
API_ATTRIBUTE = "IMAGEGATE_PLUGIN_API"  # what a plugin module sets to declare the API versions it supports

log = logging.getLogger("imagegate")


class PluginError(Exception):
    pass


def _described_origin(distribution: str | None, version: str | None) -> str:
    return f"{distribution} {version}" if distribution else "registered directly"


@dataclass(slots=True)
class PluginInfo:
    name: str
    module: str
    distribution: str | None
    version: str | None
    providers: list[str]

    @property
    def origin(self) -> str:
        return _described_origin(self.distribution, self.version)


@dataclass(slots=True)
class PluginFailure:
    """A plugin that was skipped: its entry-point name, where it comes from, and what went wrong (one line)."""

    name: str
    distribution: str | None
    version: str | None
    error: str
    blockable: bool = True  # False when its name is another plugin's: blocking the name would block both

    @property
    def origin(self) -> str:
        return _described_origin(self.distribution, self.version)

    def describe(self) -> str:
        remedies = [f"set {DISABLE_VARIABLE}={self.name}"] if self.blockable else []
        remedies += [f"uninstall {self.distribution}"] if self.distribution else []
        return (
            f"plugin '{self.name}' ({self.origin}) failed to load and is skipped: {self.error}. "
            "Other plugins are unaffected"
            + (f"; to stop loading it, {' or '.join(remedies)}" if remedies else "")
            + "."
        )


class PluginManager(pluggy.PluginManager):
    """pluggy's manager, plus what imagegate records about each plugin: where it came from, the providers it
    registered, and the plugins that were blocked or failed."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.distributions: dict[str, metadata.Distribution] = {}  # entry-point name -> distribution
        self.provided: dict[str, list[str]] = {}  # plugin name -> provider names
        self.failures: list[PluginFailure] = []
        self.blocked: list[str] = []

    def unavailable(self) -> dict[str, str]:
        """Plugins that routes may name but that are not serving, with why (for the route table load). The
        reason reaches clients in a 503, so a failure's error (an exception's text, a path on the server) is
        left to where admins look: the log, ``imagegate plugins`` and ``/readyz``."""
        reasons = {name: f"is blocked by {DISABLE_VARIABLE}" for name in self.blocked}
        reasons.update(
            {failure.name: "failed to load (the gateway's log says why)" for failure in self.failures}
        )
        return reasons

    def load_entry_points(self) -> None:
        """Load and register every plugin of the entry-point group that is not blocked, containing failures.
        imagegate's own distribution comes first and the others by name, so which plugin keeps a name two
        claim never depends on the order of ``sys.path`` or of a directory listing: the later one fails."""
        seen: set[tuple[str, str]] = set()
        for dist in sorted(metadata.distributions(), key=_load_order):
            for entry_point in dist.entry_points:
                if entry_point.group != hookspecs.PROJECT or self.is_blocked(entry_point.name):
                    continue
                if (entry_point.name, dist.metadata["Name"]) in seen:
                    continue  # the same distribution, found twice on sys.path
                seen.add((entry_point.name, dist.metadata["Name"]))
                if self.has_plugin(entry_point.name):
                    self.record_name_taken(entry_point.name, dist, self.distributions[entry_point.name])
                    continue
                try:
                    plugin = entry_point.load()
                    check_api_version(plugin)
                    self.register(plugin, name=entry_point.name)
                except Exception as exc:
                    self.record_failure(entry_point.name, dist, exc)
                else:
                    self.distributions[entry_point.name] = dist

    def record_failure(self, name: str, dist: metadata.Distribution | None, exc: Exception) -> None:
        self._record(PluginFailure(name, *_origin(dist), error=describe_exception(exc)))
        log.debug("plugin '%s' failed here", name, exc_info=exc)

    def record_name_taken(
        self, name: str, dist: metadata.Distribution, holder: metadata.Distribution
    ) -> None:
        error = (
            f"{holder.metadata['Name']} {holder.version} already has a plugin named '{name}'; "
            "the entry point needs a name of its own"
        )
        self._record(PluginFailure(name, *_origin(dist), error=error, blockable=False))

    def _record(self, failure: PluginFailure) -> None:
        self.failures.append(failure)
        log.error("%s", failure.describe())


def _origin(dist: metadata.Distribution | None) -> tuple[str | None, str | None]:
    return (dist.metadata["Name"], dist.version) if dist is not None else (None, None)


def _load_order(dist: metadata.Distribution) -> tuple[bool, str]:
    name = (dist.metadata["Name"] or "").lower().replace("_", "-")
    return name != FIRST_PARTY_DISTRIBUTION, name


def check_api_version(plugin: object) -> None:
    """Refuse a plugin that declares plugin API versions not including :data:`hookspecs.PLUGIN_API_VERSION`."""
    declared = getattr(plugin, API_ATTRIBUTE, None)
    if declared is None:
        return
    versions = _declared_versions(declared)
    if versions is None:
        raise PluginError(
            f"{API_ATTRIBUTE} = {declared!r} is not a plugin API version (an int) or a collection of them"
        )
    if hookspecs.PLUGIN_API_VERSION not in versions:
        supported = ", ".join(str(version) for version in sorted(versions)) or "none"
        raise PluginError(
            f"it supports plugin API version {supported}, but this imagegate provides version "
            f"{hookspecs.PLUGIN_API_VERSION}; install a release of the plugin made for version "
            f"{hookspecs.PLUGIN_API_VERSION}, or an imagegate that provides version {supported}"
        )


def _declared_versions(declared: object) -> set[int] | None:
    if isinstance(declared, bool):
        return None
    if isinstance(declared, int):
        return {declared}
    if isinstance(declared, Collection) and not isinstance(declared, str | bytes):
        items = list(declared)
        if all(isinstance(item, int) and not isinstance(item, bool) for item in items):
            return set(items)
    return None


def describe_exception(exc: BaseException) -> str:
    """``Type: message (at file:line)``: one line, the place being the innermost frame of the plugin's own code
    (not importlib's, pluggy's or imagegate's: a refusal by imagegate itself has no place)."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    loaders = (str(Path(__file__).parent), str(Path(pluggy.__file__).parent), "<")
    frames = [
        frame for frame in traceback.extract_tb(exc.__traceback__) if not frame.filename.startswith(loaders)
    ]
    if frames:
        text += f" (at {frames[-1].filename}:{frames[-1].lineno})"
    return text


def build_plugin_manager(environ: Mapping[str, str], extra_plugins: Iterable[object] = ()) -> PluginManager:
    manager = PluginManager()
    for name in environ.get(DISABLE_VARIABLE, "").split(","):
        if name.strip():
            manager.set_blocked(name.strip())
            manager.blocked.append(name.strip())
    manager.load_entry_points()
    for plugin in extra_plugins:
        try:
            check_api_version(plugin)
        except PluginError as exc:
            raise PluginError(f"plugin {plugin!r}: {exc}") from None
        manager.register(plugin)
    return manager


def collect_providers(manager: PluginManager) -> dict[str, Provider]:
    """Ask every plugin for its providers. A plugin whose registration fails (it raises, registers something
    that is not a :class:`Provider`, or a name another plugin took) is unregistered and recorded as failed."""
    owners: dict[str, str] = {}  # provider name -> the plugin that registered it
    providers: dict[str, Provider] = {}
    for impl in manager.hook.imagegate_register_providers.get_hookimpls():
        name = impl.plugin_name
        try:
            registered = _registered_by(impl.function, owners)
        except Exception as exc:
            if name not in manager.distributions:
                raise PluginError(f"plugin '{name}' failed to register its providers: {exc}") from exc
            manager.unregister(name=name)
            manager.record_failure(name, manager.distributions.pop(name), exc)
            continue
        providers.update(registered)
        owners.update(dict.fromkeys(registered, name))
        manager.provided[name] = list(registered)
    return providers


def _registered_by(hook: Callable[..., object], owners: Mapping[str, str]) -> dict[str, Provider]:
    """The providers one plugin's ``imagegate_register_providers`` registers."""
    registered: dict[str, Provider] = {}

    def register(provider: Provider) -> None:
        if not isinstance(provider, Provider):
            raise PluginError(f"register() takes an imagegate.Provider, not {type(provider).__name__}")
        if provider.name in owners:
            owner = owners[provider.name]
            raise PluginError(f"a provider named '{provider.name}' is already registered by plugin '{owner}'")
        if provider.name in registered:
            raise PluginError(f"it registers a provider named '{provider.name}' twice")
        registered[provider.name] = provider

    hook(register=register)
    return registered


def describe_plugins(manager: PluginManager) -> list[PluginInfo]:
    """What is loaded and from where, for ``imagegate plugins`` (after :func:`collect_providers`)."""
    infos: list[PluginInfo] = []
    for name, plugin in manager.list_name_plugin():
        if plugin is None:
            continue
        dist = manager.distributions.get(name)
        infos.append(
            PluginInfo(
                name=name,
                module=getattr(plugin, "__file__", None) or type(plugin).__module__,
                distribution=dist.metadata["Name"] if dist is not None else None,
                version=dist.version if dist is not None else None,
                providers=manager.provided.get(name, []),
            )
        )
    return infos
