"""``imagegate new-plugin NAME [DIR]``: a complete provider plugin package, written from ``template/``.

The package speaks a made-up upstream until its author changes it: a provider module with TODOs, a fake of
the upstream, tests using imagegate's kit (translation, the conformance suite, a request through a real
gateway), and a pyproject with the entry point. It passes ``pip install -e DIR && pytest DIR`` as written.
In template files ``{{key}}`` is replaced by the names below; ``__module__`` and ``__name__`` in paths by
the module name and the plugin's name as an identifier; the ``.tmpl`` suffix is dropped.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from importlib import metadata, resources
from importlib.resources.abc import Traversable
from pathlib import Path

from ..hookspecs import PLUGIN_API_VERSION, PROJECT

NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
SUFFIX = ".tmpl"


@dataclass(frozen=True, slots=True)
class PluginNames:
    name: str  # the provider's name and the entry point's: ``plugin: NAME`` in routes.yaml
    module: str  # imagegate_NAME, an identifier
    dist: str  # imagegate-NAME, the distribution on PyPI
    Class: str  # the prefix of the provider's class names
    title: str  # for prose
    env: str  # the prefix of environment variables in examples
    api_version: str


def plugin_names(name: str) -> PluginNames:
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"'{name}' cannot name a plugin: use lower-case letters, digits, and - or _ between words "
            "(it becomes the entry point, the provider's name and part of the package name)"
        )
    words = re.split(r"[-_]", name)
    identifier = "_".join(words)
    return PluginNames(
        name=name,
        module=f"imagegate_{identifier}",
        dist=f"imagegate-{'-'.join(words)}",
        Class="".join(word.capitalize() for word in words),
        title=" ".join(word.capitalize() for word in words),
        env=identifier.upper(),
        api_version=str(PLUGIN_API_VERSION),
    )


def taken_by(names: PluginNames) -> list[str]:
    """Installed distributions, other than the plugin's own, that already have its entry-point name or its
    package: installed beside them, the new plugin would shadow one of theirs or fail to load."""
    holders = set(metadata.packages_distributions().get(names.module, ()))
    for dist in metadata.distributions():
        if any(point.group == PROJECT and point.name == names.name for point in dist.entry_points):
            holders.add(dist.metadata["Name"])
    return sorted(holder for holder in holders if _canonical(holder) != names.dist)


def _canonical(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def write_plugin(name: str, directory: Path) -> list[Path]:
    """Write the package for plugin ``name`` into ``directory`` (created; it must not hold files yet)."""
    names = plugin_names(name)
    holders = taken_by(names)
    if holders:
        raise ValueError(
            f"'{name}' is taken by {', '.join(holders)} (its plugin name or the package {names.module}); "
            "pick a name of your own (`imagegate plugins` lists those taken)"
        )
    if directory.exists() and any(directory.iterdir()):
        raise FileExistsError(f"{directory} already holds files; name a new or empty directory")
    values = {f"{{{{{key}}}}}": value for key, value in asdict(names).items()}
    paths = {"__module__": names.module, "__name__": names.module.removeprefix("imagegate_")}
    written: list[Path] = []
    for source, relative in _template_files(resources.files(__package__) / "template", ""):
        for placeholder, value in paths.items():
            relative = relative.replace(placeholder, value)
        text = source.read_text(encoding="utf-8")
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        target = directory / relative.removesuffix(SUFFIX)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return sorted(written)


def _template_files(folder: Traversable, prefix: str) -> list[tuple[Traversable, str]]:
    files: list[tuple[Traversable, str]] = []
    for entry in folder.iterdir():
        if entry.is_dir():
            files.extend(_template_files(entry, f"{prefix}{entry.name}/"))
        elif entry.name.endswith(SUFFIX):
            files.append((entry, prefix + entry.name))
    return files
