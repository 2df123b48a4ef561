"""Images per minute per client, counted by the `limits` library (sliding-window counter, cost = images).

The limiter's storage comes from the shared state, so the count holds across replicas when the state is
shared. When a request does not fit, :meth:`ImageRateLimiter.acquire` says how long until it would, from the
same window counts the library decided on.
"""

from __future__ import annotations

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.storage import Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

WINDOW_SECONDS = 60
MARGIN_SECONDS = 0.01  # past the computed instant, so a retry at retry-after is not refused by rounding


class ImageRateLimiter:
    def __init__(self, storage: Storage) -> None:
        self._limiter = SlidingWindowCounterRateLimiter(storage)
        self._items: dict[int, RateLimitItem] = {}

    async def acquire(self, client: str, per_minute: int, images: int) -> float | None:
        """Count ``images`` against ``client``'s limit: ``None`` when they fit (and are counted), else the
        seconds until they would fit (nothing is counted)."""
        item = self._items.get(per_minute)
        if item is None:
            item = self._items.setdefault(per_minute, RateLimitItemPerMinute(per_minute))
        if await self._limiter.hit(item, client, cost=images):
            return None
        window = await self._limiter.storage.get_sliding_window(  # type: ignore[attr-defined]
            item.key_for(client), WINDOW_SECONDS
        )
        return _wait(per_minute, images, *window)


def _wait(
    limit: int, images: int, previous: int, previous_ttl: float, current: int, current_ttl: float
) -> float:
    """Seconds until ``images`` more fit. The library admits when ``floor(weighted) + images <= limit``, where
    ``weighted = previous * previous_ttl / window + current`` and ``previous_ttl`` runs down to 0 as the
    current window ends; then the current count becomes the previous one."""
    window = WINDOW_SECONDS
    room = limit - images + 1  # admitted when the weighted count is below this
    if current < room:  # fits within this window once enough of the previous one has decayed
        if previous == 0:
            return MARGIN_SECONDS
        return max(0.0, previous_ttl - (room - current) * window / previous) + MARGIN_SECONDS
    current_window_left = max(0.0, current_ttl - window)
    return current_window_left + max(0.0, window - room * window / current) + MARGIN_SECONDS
