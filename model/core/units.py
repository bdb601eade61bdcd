"""Time units used across the survival and longitudinal code (mean Gregorian calendar).

All survival times are stored in days; these constants convert for display and input.

>>> from model.core.units import DAYS_PER_MONTH, DAYS_PER_YEAR
>>> DAYS_PER_YEAR / 12 == DAYS_PER_MONTH
True
"""

#: days per mean Gregorian year.
DAYS_PER_YEAR: float = 365.25
#: days per mean month (= 365.25 / 12 = 30.4375).
DAYS_PER_MONTH: float = DAYS_PER_YEAR / 12
#: days per week.
DAYS_PER_WEEK: float = 7.0
#: weeks per mean year (= 365.25 / 7).
WEEKS_PER_YEAR: float = DAYS_PER_YEAR / DAYS_PER_WEEK
#: display units -> days.
DAYS_PER_UNIT: dict[str, float] = {"days": 1.0, "weeks": DAYS_PER_WEEK,
                                   "months": DAYS_PER_MONTH, "years": DAYS_PER_YEAR}

__all__ = ["DAYS_PER_YEAR", "DAYS_PER_MONTH", "DAYS_PER_WEEK", "WEEKS_PER_YEAR", "DAYS_PER_UNIT"]
