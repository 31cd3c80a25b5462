"""Keep calendar tokens out of logs: they work like passwords (SPEC §9)."""

import logging
import re

TOKEN_PATTERN = re.compile(r"rla_[A-Za-z0-9_\-]+")


def mask(text: str) -> str:
    return TOKEN_PATTERN.sub("rla_***", text)


class MaskCalendarTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is logged as it is
            return True
        if "rla_" in message:
            record.msg = mask(message)
            record.args = ()
        return True
