"""Swedish bank days: the one place that says which days money moves, for payout dates and the daily job.

A bank day is a weekday that is no Swedish public holiday and none of the days the banks keep closed although
the law does not name them (Midsommarafton, Julafton, Nyårsafton). `holidays`' own "bank" category is not
used: it adds half-days on which the banks are open.
"""

from __future__ import annotations

import datetime
from functools import lru_cache

import holidays


@lru_cache(maxsize=64)
def _holidays(year: int) -> holidays.HolidayBase:
    return holidays.Sweden(years=year, include_sundays=False, categories=("public", "de_facto"), language="sv")


def holiday_name(day: datetime.date) -> str:
    """The name of the holiday on `day` ("Julafton"), or "" on an ordinary day."""
    return _holidays(day.year).get(day, "")


def is_bank_day(day: datetime.date) -> bool:
    return day.weekday() < 5 and day not in _holidays(day.year)


def next_bank_day(day: datetime.date) -> datetime.date:
    """The first bank day after `day`."""
    day += datetime.timedelta(days=1)
    while not is_bank_day(day):
        day += datetime.timedelta(days=1)
    return day


def bank_day_on_or_after(day: datetime.date) -> datetime.date:
    return day if is_bank_day(day) else next_bank_day(day)


def payout_date_has_passed(payout_date: datetime.date, *, today: datetime.date) -> bool:
    """The bank has paid: a bank day after the payout date has begun (a Friday's payout passes on Monday,
    a payout on the day before Midsommarafton passes on the Monday after Midsommar)."""
    return today >= next_bank_day(payout_date)
