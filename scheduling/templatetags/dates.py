"""Template filters for dates, loaded on every template (settings' `builtins`): `date` writes names in the
page's language, whole in Welsh (scheduling.dates); `when` is a shift's span in its station's time."""

from django import template
from django.template.defaultfilters import date as django_date
from django.utils.translation import pgettext

from .. import dates

register = template.Library()


@register.filter(expects_localtime=True, is_safe=False)
def date(value, arg=None):
    return django_date(value, dates.localised_format(arg) if arg else arg)


@register.filter
def day_year(value):
    return dates.day_year(value)


@register.filter
def when(shift):
    """ "Sat 5 Dec 2026, 19:00 to Sun 6 Dec, 07:00" in the station's time zone."""
    return dates.span(shift.local_starts_at, shift.local_ends_at)


@register.filter
def times(shift):
    """ "Sat 5 Dec, 19:00 to Sun 6 Dec, 07:00": under a heading that gives the year."""
    return dates.span(shift.local_starts_at, shift.local_ends_at, year=False)


@register.filter
def date_parts(bound_field):
    """The day, month and year boxes of an NHS date input (scheduling.web.forms.NhsDateInput), with what
    the reader typed or the field's date."""
    value = bound_field.value()
    typed = list(value) if isinstance(value, list | tuple) else bound_field.field.widget.decompress(value)
    labels = (pgettext("date input", "Day"), pgettext("date input", "Month"), pgettext("date input", "Year"))
    return [
        {
            "id": f"{bound_field.auto_id}_{part}",
            "name": f"{bound_field.html_name}_{part}",
            "label": label,
            "value": "" if shown is None else shown,
            "width": 4 if part == "year" else 2,
        }
        for part, label, shown in zip(("day", "month", "year"), labels, typed, strict=True)
    ]


@register.filter
def month(key):
    """ "2026-11" → "Nov 2026" (Welsh: "Tachwedd 2026")."""
    return dates.month(key)


@register.filter
def date_range(first, last):
    """ "Mon 7 Dec to Fri 11 Dec 2026", the year once."""
    return dates.date_range(first, last)
