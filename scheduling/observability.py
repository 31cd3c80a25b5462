"""Request ids, one log line per request, and the request metrics (SPEC §16)."""

import logging
import re
import time
import uuid

from .logging import mask, request_id

logger = logging.getLogger("ridealong.request")
GOOD_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class RequestLogMiddleware:
    """Keeps an incoming X-Request-ID (or makes one), returns it, and logs the request when it ends."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if GOOD_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = rid
        token = request_id.set(rid)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
        finally:
            request_id.reset(token)
        duration = (time.perf_counter() - started) * 1000
        response["X-Request-ID"] = rid
        user = getattr(request, "user", None)
        person = getattr(user, "pk", None) if getattr(user, "is_authenticated", False) else None
        path = mask(request.get_full_path())
        logger.info(
            "%s %s %s",
            request.method,
            path,
            response.status_code,
            extra={
                "request_id": rid,
                "method": request.method,
                "path": path,
                "status": response.status_code,
                "duration_ms": round(duration, 1),
                "person_id": person,
            },
        )
        from . import metrics

        metrics.observe_request(request, response, duration / 1000)
        return response
