"""Names that end up in e-mail headers, calendars and pages: one printable line each (SPEC §6)."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext

from .errors import Invalid


def has_control_characters(value: str) -> bool:
    return any(ord(c) < 32 or 127 <= ord(c) < 160 or c in "\u2028\u2029" for c in value)


def validate_single_line(value) -> None:
    """A model-field validator, so the admin's forms refuse what the services refuse."""
    if isinstance(value, str) and has_control_characters(value):
        raise ValidationError(gettext("Use one line of printable characters (no line breaks or control characters)."))


def ensure_single_line(**values) -> None:
    """For services: every named value is one printable line, or the whole change is refused."""
    bad = {
        name: [gettext("Use one line of printable characters (no line breaks or control characters).")]
        for name, value in values.items()
        if isinstance(value, str) and has_control_characters(value)
    }
    if bad:
        raise Invalid(next(iter(bad.values()))[0], fields=bad)
