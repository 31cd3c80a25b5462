"""JSON in, refused cleanly when it is deeper or stranger than any real request (SPEC §6)."""

from django.utils.translation import gettext
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 32


def _check(value, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise ParseError(gettext("The JSON is nested more than %(n)s levels deep.") % {"n": MAX_DEPTH})
    if isinstance(value, str):
        if "\x00" in value:
            raise ParseError(gettext("Text may not contain NUL characters."))
    elif isinstance(value, dict):
        for key, item in value.items():
            _check(key, depth + 1)
            _check(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check(item, depth + 1)


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            # Python's own parser gives up on very deep nesting before we can count it.
            raise ParseError(gettext("The JSON is nested more than %(n)s levels deep.") % {"n": MAX_DEPTH}) from None
        _check(data)
        return data
