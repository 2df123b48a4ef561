"""The built-in offline provider: real images made locally with Pillow, no keys and no network."""

from imagegate import hookimpl

from .provider import OfflineProvider

__all__ = ["OfflineProvider"]


@hookimpl
def imagegate_register_providers(register):  # type: ignore[no-untyped-def]
    register(OfflineProvider())
