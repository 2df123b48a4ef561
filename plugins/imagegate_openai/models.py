"""The OpenAI model table: ``models.yaml`` (shipped in this package) read into capabilities and default
prices per model name.

The file's own header documents its format; :mod:`imagegate.catalog` resolves its ``like`` chains. Dated
snapshots (``gpt-image-2-2026-04-21``) use their family's entry unless the file lists them; any other name
gets the ``unknown_models_like`` entry and a warning in the log, once per name.
"""

from __future__ import annotations

import logging
import re
from importlib import resources
from types import MappingProxyType

import msgspec
import yaml
from imagegate import (
    DeclarationError,
    ModelCapabilities,
    ModelDeclaration,
    Price,
    declared_price,
    resolve_declared,
    undeclared,
)

log = logging.getLogger("imagegate.openai")

TABLE_FILE = "models.yaml"

_SNAPSHOT_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")


class _TableFile(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    unknown_models_like: str
    models: dict[str, ModelDeclaration]


def model_family(model: str) -> str:
    """The name without a dated snapshot suffix: ``gpt-image-1-2025-04-15`` → ``gpt-image-1``."""
    return _SNAPSHOT_SUFFIX.sub("", model.strip().lower())


class ModelTable:
    """Capabilities per OpenAI model name, read from a table file."""

    def __init__(self, text: str, source: str = TABLE_FILE) -> None:
        try:
            table = msgspec.convert(yaml.safe_load(text), _TableFile)
        except (yaml.YAMLError, msgspec.ValidationError) as exc:
            raise ValueError(f"{source}: {exc}") from None
        try:
            self.models = MappingProxyType(
                {name: resolve_declared(name, table.models, undeclared) for name in table.models}
            )
        except DeclarationError as exc:
            raise ValueError(f"{source}: models.{exc.model}.{exc.path}: {exc.message}") from None
        if table.unknown_models_like not in self.models:
            raise ValueError(
                f"{source}: unknown_models_like: '{table.unknown_models_like}' is not in the table"
            )
        self.unknown_models_like = table.unknown_models_like
        self.prices = MappingProxyType(
            {name: declared_price(name, table.models, lambda name: None) for name in table.models}
        )
        self._warned: set[str] = set()

    @classmethod
    def packaged(cls) -> ModelTable:
        """The table shipped with this plugin."""
        return cls(resources.files(__package__).joinpath(TABLE_FILE).read_text(encoding="utf-8"))

    def lookup(self, model: str) -> ModelCapabilities | None:
        """The table's entry for ``model`` or its snapshot family; ``None`` when the table does not list it."""
        name = model.strip().lower()
        return self.models.get(name) or self.models.get(model_family(name))

    def price(self, model: str) -> Price | None:
        """The default price of ``model`` (its snapshot family's; ``unknown_models_like``'s for a name the
        table does not list)."""
        name = model.strip().lower()
        for candidate in (name, model_family(name), self.unknown_models_like):
            if candidate in self.prices:
                return self.prices[candidate]
        return None

    def capabilities(self, model: str) -> ModelCapabilities:
        """The declaration for ``model``; any name the table does not list gets ``unknown_models_like``'s.
        Raises ``ValueError`` for an empty name."""
        if not model.strip():
            raise ValueError("an upstream model name is required")
        known = self.lookup(model)
        if known is not None:
            return known
        if model not in self._warned:
            self._warned.add(model)
            log.warning(
                "model '%s' is not in the OpenAI model table: assuming it can do what %s does; declare it "
                "under the account's `models:` in routes.yaml to say what it supports",
                model,
                self.unknown_models_like,
            )
        return self.models[self.unknown_models_like]
