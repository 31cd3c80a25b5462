"""Logs a trust's SIEM can read (SPEC §16): JSON lines with the request id, and no secrets in them.

Calendar links (`rla_…`), API tokens (`rlt_…`) and one-tap answer links (`/act/…`) work like
passwords, so they are masked wherever they appear in a message — also when percent-encoded.
"""

import contextvars
import logging
import re
from urllib.parse import unquote

from django.http import HttpRequest
from pythonjsonlogger.json import JsonFormatter

# `_` may arrive as `%5F`, any letter as `%XX`: match the encoded forms as well as the plain ones.
_CHAR = r"(?:[A-Za-z0-9\-_~.]|%[0-9A-Fa-f]{2})"
TOKEN_PATTERN = re.compile(rf"\b(rl[at])(?:_|%5[Ff]){_CHAR}+")
# A signed answer token holds `:` between its parts: the whole of it is masked, up to the next `/`.
ANSWER_LINK = re.compile(r"(/(?:act|invite)/)(?:[A-Za-z0-9\-_~.:]|%[0-9A-Fa-f]{2})+")

_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def mask(text: str) -> str:
    if "rl" not in text and "/act/" not in text and "/invite/" not in text and "%" not in text:
        return text
    text = TOKEN_PATTERN.sub(r"\1_***", text)
    text = ANSWER_LINK.sub(r"\1***", text)
    # Anything still hiding behind percent-escapes (`r%6Ca_…`) is masked in its decoded form.
    decoded = unquote(text)
    if decoded != text and (TOKEN_PATTERN.search(decoded) or ANSWER_LINK.search(decoded)):
        return ANSWER_LINK.sub(r"\1***", TOKEN_PATTERN.sub(r"\1_***", decoded))
    return text


class MaskCalendarTokens(logging.Filter):
    """Masks secrets in every record's message (the name is kept for existing logging configs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is logged as it is
            return True
        masked = mask(message)
        if masked != message:
            record.msg = masked
            record.args = ()
        # Every extra that carries a path is masked too: Django's own loggers pass the request itself.
        for field, value in list(vars(record).items()):
            if field in _RECORD_FIELDS:
                continue
            if isinstance(value, str):
                setattr(record, field, mask(value))
            elif isinstance(value, HttpRequest):
                setattr(record, field, mask(f"{value.method} {value.get_full_path()}"))
        return True


class AddRequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_id.get()
        return True


class RidealongJsonFormatter(JsonFormatter):
    """One JSON object a line: time, level, logger, message, request id and the record's extras."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", False)
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s", *args, **kwargs)

    def formatTime(self, record, datefmt=None):  # noqa: N802 - logging's name
        from datetime import UTC, datetime

        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
