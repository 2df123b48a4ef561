"""Kept for the tests that import them from here: :mod:`imagegate.testing`'s servers."""

from imagegate.testing import free_port
from imagegate.testing import serve_upstream as serve_aiohttp
from imagegate.testing.servers import serve_asgi

__all__ = ["free_port", "serve_aiohttp", "serve_asgi"]
