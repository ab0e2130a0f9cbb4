"""When transactions happen: fraudTrain.csv's daily rate, its hourly, weekly and yearly rhythm,
and its unix_time (the same wall time 7 years earlier)."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache

import numpy as np

# fraudTrain.csv's time line: 1,296,675 rows from 2019-01-01 00:00:18 to 2020-06-21 12:13:37,
# ~2,415 a day. The daily rate is calibrated so that a file of that size, started on that day,
# ends on that day too.
REFERENCE_ROWS = 1_296_675
REFERENCE_START = datetime(2019, 1, 1)
REFERENCE_END = datetime(2020, 6, 21, 12, 13, 37)
UNIX_TIME_LAG_YEARS = 7  # unix_time is the same wall time 7 years earlier, as UTC

# Legitimate spending by hour (afternoons and evenings ~1.55x the morning rate), weekday
# (Monday..Sunday) and month, as in fraudTrain.csv.
_HOUR_WEIGHTS = np.array([1.0] * 12 + [1.55] * 12)
_WEEKDAY_WEIGHTS = np.array([1.32, 0.83, 0.67, 0.76, 0.79, 1.04, 1.30])
_MONTH_WEIGHTS = np.array([0.72, 0.70, 0.95, 0.93, 0.99, 1.2, 1.2, 1.22, 0.96, 0.96, 0.98, 1.6])
# Share of a day's legitimate volume that falls before each hour boundary (0h, 1h, ..., 24h):
# maps a uniform draw to a time of day that follows _HOUR_WEIGHTS, and back.
_HOUR_EDGES = np.arange(25) * 3600.0
_HOUR_SHARE = np.concatenate([[0.0], np.cumsum(_HOUR_WEIGHTS)]) / _HOUR_WEIGHTS.sum()


@dataclass(frozen=True)
class Timeline:
    """Expected legitimate volume per day; the span ends part-way through its last day."""

    expected: np.ndarray  # expected rows per day, the last day counted only up to the end
    day_share: np.ndarray  # per day, the share of its hour-weighted volume inside the span

    @property
    def days(self) -> int:
        return len(self.expected)

    def limit_seconds(self, day: np.ndarray) -> np.ndarray:
        """Per day, the second of day that every transaction on it must stay below."""
        limit = np.ceil(seconds_into_day(self.day_share[day])).astype(np.int64)
        return np.clip(limit, 1, 86400)


def timeline(first_day: date, rows: int) -> Timeline:
    """Days from ``first_day`` at the realistic daily rate until ``rows`` are expected."""
    if rows == 0:
        return Timeline(np.zeros(0), np.zeros(0))
    per_weight = _rows_per_weight()
    # Every day expects at least the quietest weekday in the quietest month: enough days.
    floor = per_weight * _WEEKDAY_WEIGHTS.min() * _MONTH_WEIGHTS.min()
    expected = _day_weights(first_day, int(rows / floor) + 2) * per_weight
    cumulative = np.cumsum(expected)
    last = int(np.searchsorted(cumulative, rows))
    before = float(cumulative[last - 1]) if last else 0.0
    day_share = np.ones(last + 1)
    day_share[last] = (rows - before) / expected[last]
    expected = expected[: last + 1].copy()
    expected[last] = rows - before
    return Timeline(expected, day_share)


def seconds_into_day(volume_share: np.ndarray | float) -> np.ndarray:
    """The time of day (in seconds) before which this share of a day's volume falls."""
    return np.interp(volume_share, _HOUR_SHARE, _HOUR_EDGES)


def unix_lag_seconds(day: date) -> int:
    """Seconds to add to a wall time on ``day`` to get the Sparkov unix_time (7 years earlier)."""
    year = day.year - UNIX_TIME_LAG_YEARS
    # Feb 29 has no twin 7 years earlier; like pandas' DateOffset, use Feb 28.
    earlier = day.replace(year=year, day=min(day.day, calendar.monthrange(year, day.month)[1]))
    return (earlier - day).days * 86400


def _day_weights(first_day: date, days: int) -> np.ndarray:
    """Relative legitimate volume of each day: its weekday's weight times its month's."""
    epoch_day = (first_day - date(1970, 1, 1)).days + np.arange(days)
    weekday = (epoch_day + 3) % 7  # 1970-01-01 was a Thursday
    month = np.datetime64(first_day, "D") + np.arange(days)
    month_index = month.astype("datetime64[M]").astype(np.int64) % 12
    return _WEEKDAY_WEIGHTS[weekday] * _MONTH_WEIGHTS[month_index]


@cache
def _rows_per_weight() -> float:
    """Expected rows per unit of day weight, so fraudTrain.csv's span holds its row count."""
    first = REFERENCE_START.date()
    whole_days = (REFERENCE_END.date() - first).days
    weights = _day_weights(first, whole_days + 1)
    end_of_day = REFERENCE_END - datetime.combine(REFERENCE_END.date(), datetime.min.time())
    last_share = np.interp(end_of_day.total_seconds(), _HOUR_EDGES, _HOUR_SHARE)
    return REFERENCE_ROWS / (weights[:-1].sum() + weights[-1] * last_share)
