"""Accounting periods of budgets and usage, in UTC: ``day``, ``week`` (ISO, from Monday), ``month``, ``total``.

Spend is recorded in every period at once, so a budget whose period changes on a reload keeps counting what
was already spent in the new period.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from ..state import Period

PeriodName = Literal["day", "week", "month", "total"]
PERIOD_NAMES: tuple[PeriodName, ...] = ("day", "week", "month", "total")


def current_periods(now: float) -> dict[PeriodName, Period]:
    """The four periods that ``now`` (epoch seconds) falls in."""
    moment = datetime.fromtimestamp(now, UTC)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    week = day - timedelta(days=day.weekday())
    month = day.replace(day=1)
    next_month = (month + timedelta(days=32)).replace(day=1)
    iso_year, iso_week, _ = day.isocalendar()
    return {
        "day": Period(f"day:{day:%Y-%m-%d}", (day + timedelta(days=1)).timestamp()),
        "week": Period(f"week:{iso_year}-W{iso_week:02d}", (week + timedelta(days=7)).timestamp()),
        "month": Period(f"month:{month:%Y-%m}", next_month.timestamp()),
        "total": Period("total", None),
    }
