"""Kept for the tests that import it from here: the example plugin ships its fake Pixelworks upstream."""

from imagegate_pixelworks.fake_upstream import make_app

__all__ = ["make_app"]
