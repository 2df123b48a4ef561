"""Kept for the tests that import them from here: :mod:`imagegate.testing`'s image helpers."""

from imagegate.testing import describe_image as describe
from imagegate.testing import make_image

__all__ = ["describe", "make_image"]
