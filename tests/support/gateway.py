"""Kept for the tests that import it from here: :func:`imagegate.testing.serve_gateway`."""

from imagegate.testing import serve_gateway

__all__ = ["serve_gateway"]
