"""The plugin authors' test kit, shipped with imagegate and registered as a pytest plugin.

- :func:`serve_gateway`: a gateway served on a free loopback port from a routes mapping (or YAML text);
  the ``imagegate_gateway`` fixture does the same and gives a :class:`ServedGateway` with an SDK client.
- :func:`serve_upstream`: a fake upstream, a small aiohttp application, served on a free loopback port; the
  ``imagegate_upstream`` fixture does the same.
- :class:`ProviderConformance` and :class:`Expect`: the conformance suite a provider runs against itself.
- :class:`FakeClock`: the gateway's clock in tests (retries and cooldowns take no real time).
- :func:`make_image`, :func:`describe_image`: real image bytes for fakes, and what an image is.
- :func:`free_port`.

docs/plugins.md shows each in use. ``__all__`` is pinned like ``imagegate.__all__`` (PLUGIN_API_VERSION).
"""

from .clock import FakeClock
from .conformance import Expect, ProviderConformance
from .gateway import ServedGateway, serve_gateway
from .images import describe_image, make_image
from .servers import free_port, serve_upstream

__all__ = [
    "Expect",
    "FakeClock",
    "ProviderConformance",
    "ServedGateway",
    "describe_image",
    "free_port",
    "make_image",
    "serve_gateway",
    "serve_upstream",
]
