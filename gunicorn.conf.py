"""gunicorn settings (SPEC §16): loopback by default; the app logs each request itself as JSON.

gunicorn's own access log is off unless GUNICORN_ACCESSLOG names a file (or `-`); its lines have
calendar and API tokens masked too.
"""

import os
import tempfile

from gunicorn.glogging import Logger
from prometheus_client import multiprocess

from scheduling.logging import mask

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "4"))
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
# gunicorn believes X-Forwarded-Proto only from the proxies the app trusts (SPEC §16); the app reads
# X-Forwarded-For itself, from the same list.
forwarded_allow_ips = os.environ.get("TRUSTED_PROXIES") or "127.0.0.1,::1"
# Each worker counts its metrics in files here; /metrics adds them up (prometheus_client's multiprocess mode).
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="ridealong-metrics-"))


class MaskingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: mask(value) if isinstance(value, str) else value for key, value in atoms.items()}


logger_class = MaskingLogger


def child_exit(server, worker):
    # A worker's live gauges die with it; its counters stay in the totals.
    multiprocess.mark_process_dead(worker.pid)
