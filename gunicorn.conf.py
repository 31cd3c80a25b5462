"""gunicorn settings: loopback by default, and calendar tokens masked in the access log (SPEC §9)."""

import os

from gunicorn.glogging import Logger

from scheduling.logging import mask

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "4"))
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-") or None


class MaskingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: mask(value) if isinstance(value, str) else value for key, value in atoms.items()}


logger_class = MaskingLogger
