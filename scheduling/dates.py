"""Dates and times written for a person, in the active language (SPEC §10, §20).

English pages abbreviate ("Sat 5 Dec 2026, 19:00"); Welsh ones write the names whole, as Welsh
style does ("Sadwrn 5 Rhagfyr 2026, 19:00"). The names themselves come from Django's catalogues.
"""

from datetime import date, datetime

from django.utils import dateformat, translation

# Django's date-format letters for abbreviated names, and the whole names a Welsh page uses instead.
WHOLE_NAMES = str.maketrans({"D": "l", "M": "F", "b": "F", "N": "F"})


def localised_format(fmt: str) -> str:
    if (translation.get_language() or "").startswith("cy"):
        return fmt.translate(WHOLE_NAMES)
    return fmt


def written(value: date | datetime | None, fmt: str) -> str:
    """`value` in Django's date format `fmt`, its names in the active language."""
    if value is None:
        return ""
    return dateformat.format(value, localised_format(fmt))


def day(value: date) -> str:
    return written(value, "D j M")


def day_year(value: date) -> str:
    return written(value, "D j M Y")


def moment(value: datetime, *, year: bool = True) -> str:
    """A local time with its day: "Sat 5 Dec 2026, 19:00" (or "Sat 5 Dec, 19:00")."""
    return written(value, "D j M Y, H:i" if year else "D j M, H:i")


def span(start: datetime, end: datetime, *, year: bool = True) -> str:
    """Local start and end, each date written once: "Sat 5 Dec 2026, 19:00 to Sun 6 Dec, 07:00", or
    "Sat 5 Dec 2026, 07:00 to 19:00" when they share it; `year=False` under a heading that has the year."""
    if start.date() == end.date():
        end_words = written(end, "H:i")
    else:
        end_words = written(end, "D j M, H:i")
    return translation.gettext("%(start)s to %(end)s") % {"start": moment(start, year=year), "end": end_words}


def month(key: str) -> str:
    """A report's month key ("2026-11") as a reader writes it: "Nov 2026", "Tachwedd 2026"."""
    year, number = key.split("-")
    return written(date(int(year), int(number), 1), "M Y")


def date_range(first: date, last: date) -> str:
    if first == last:
        return day_year(first)
    return translation.gettext("%(start)s to %(end)s") % {"start": day(first), "end": day_year(last)}
