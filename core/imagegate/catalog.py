"""Model declarations as data: a model is described ``like`` another one, with capability overrides.

One shape serves two places: a provider's own model table shipped as a data file (the OpenAI plugin's
``models.yaml``), and the ``models:`` an operator declares under a ``providers:`` entry of routes.yaml to teach
the gateway a new upstream model once per account, or to correct one (preview access, a compatible upstream)::

    models:
      gpt-image-3:              {like: gpt-image-2.6-sunburst}
      gpt-image-2:              {capabilities: {backgrounds: [transparent, opaque, auto]}}
      house-diffusion:          {like: gpt-image-1.5, capabilities: {max_n: 4, sizes: {sizes: [768x768]}}}

``like`` names the model whose capabilities are the starting point (another declaration, or a model the
base knows); without ``like`` the starting point is the base's own declaration of the same name.
``capabilities`` replaces fields of :class:`ModelCapabilities` key by key. ``retired`` is not inherited
through ``like`` (a model described like a retired one is not retired itself). ``price`` (a
:class:`~imagegate.clients.pricing.Price`: ``usd_per_image``, ``usd_per_million_tokens``,
``usd_per_image_table``) is: a model described like another costs what it costs unless it says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from .capabilities import ModelCapabilities, Retirement
from .clients.pricing import Price


class ModelDeclaration(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    like: str | None = None
    capabilities: dict[str, Any] = {}
    retired: Retirement | None = None
    price: Price | None = None


class DeclarationError(ValueError):
    """A declaration that cannot be resolved; ``path`` is the key path below the model's name."""

    def __init__(self, model: str, path: str, message: str) -> None:
        super().__init__(message)
        self.model, self.path, self.message = model, path, message


Base = Callable[[str], ModelCapabilities]


def resolve_declared(
    name: str, declarations: Mapping[str, ModelDeclaration], base: Base
) -> ModelCapabilities:
    """The capabilities of ``name``: its declaration applied over its ``like`` (followed through the other
    declarations, then ``base``), or ``base(name)`` when it is not declared. ``base`` raises ``ValueError`` for
    a name it does not know; that and every broken declaration surface as :class:`DeclarationError`."""
    declaration = declarations.get(name)
    if declaration is None:
        return base(name)
    return _resolve(name, declarations, base, (name,))


def _resolve(
    name: str, declarations: Mapping[str, ModelDeclaration], base: Base, chain: tuple[str, ...]
) -> ModelCapabilities:
    declaration = declarations[name]
    start = declaration.like
    if start is None:
        origin = _base(name, base, name, "")
    elif start in chain:
        raise DeclarationError(name, "like", "declarations form a cycle: " + " -> ".join([*chain, start]))
    elif start in declarations:
        origin = _resolve(start, declarations, base, (*chain, start))
    else:
        origin = _base(start, base, name, "like")
    try:
        merged = msgspec.convert(
            {**msgspec.to_builtins(origin), **declaration.capabilities}, ModelCapabilities
        )
    except msgspec.ValidationError as exc:
        message, _, location = str(exc).rpartition(" - at `$")
        raise DeclarationError(name, "capabilities" + location.rstrip("`"), message or str(exc)) from None
    retired = declaration.retired or (origin.retired if start is None else None)
    return msgspec.structs.replace(merged, retired=retired)


def _base(model: str, base: Base, declared: str, path: str) -> ModelCapabilities:
    try:
        return base(model)
    except ValueError as exc:
        raise DeclarationError(declared, path, str(exc)) from None


def declared_price(
    name: str, declarations: Mapping[str, ModelDeclaration], base: Callable[[str], Price | None]
) -> Price | None:
    """The price of ``name``: its declaration's, else that of the model it is ``like`` (through the other
    declarations), else ``base``'s for the last name reached. ``like`` chains are checked for cycles when
    capabilities are resolved; a cycle here ends the search at the repeated name."""
    seen: set[str] = set()
    while name in declarations and name not in seen:
        seen.add(name)
        declaration = declarations[name]
        if declaration.price is not None:
            return declaration.price
        if declaration.like is None:
            break
        name = declaration.like
    return base(name)


def undeclared(model: str) -> ModelCapabilities:
    """A base that knows no model: a declaration without ``like`` then starts from the defaults."""
    return ModelCapabilities()
