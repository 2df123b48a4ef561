"""Kept for the tests that import it from here: the fake clock is :class:`imagegate.testing.FakeClock`."""

from imagegate.testing import FakeClock

__all__ = ["FakeClock"]
