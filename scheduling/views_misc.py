"""Endpoints outside the API: the health check and the calendar feed (SPEC §9, §11)."""

import gzip
import sys

from django.contrib.auth import get_user_model
from django.db import DatabaseError, DataError, IntegrityError, ProgrammingError, connection
from django.http import HttpResponse, HttpResponseNotModified, JsonResponse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import http_date, parse_etags, parse_http_date_safe
from django.views.decorators.http import require_http_methods

from . import selectors
from .calendar import build_feed
from .services import token_digest

User = get_user_model()


def healthz(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any database failure means unhealthy
        return JsonResponse({"status": "unavailable"}, status=503)
    return JsonResponse({"status": "ok"})


def readyz(request):
    """Ready to serve: database, migrations, outbox age and the background jobs' heartbeats (SPEC §16).

    Answers 503 naming every failing check.
    """
    from django.conf import settings
    from django.db.migrations.executor import MigrationExecutor

    from .models import Heartbeat, Notification

    now = timezone.now()
    checks: dict[str, dict] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = {"ok": True}
    except DatabaseError as error:
        checks["database"] = {"ok": False, "detail": str(error).splitlines()[0][:200]}
        return JsonResponse({"status": "failing", "failing": ["database"], "checks": checks}, status=503)
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    checks["migrations"] = {"ok": not pending, "unapplied": [f"{m.app_label}.{m.name}" for m, _ in pending]}
    oldest = (
        Notification.objects.filter(sent_at=None, dead_at=None)
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    age = (now - oldest).total_seconds() if oldest else 0
    checks["outbox"] = {"ok": age <= settings.RIDEALONG_READY_OUTBOX_AGE, "oldest_unsent_seconds": int(age)}
    beats = dict(Heartbeat.objects.values_list("name", "at"))
    for name, limit in (
        ("delivery", settings.RIDEALONG_READY_HEARTBEAT_AGE),
        ("process_due", settings.RIDEALONG_READY_HEARTBEAT_AGE),
    ):
        at = beats.get(name)
        seconds = (now - at).total_seconds() if at else None
        checks[name] = {
            "ok": seconds is not None and seconds <= limit,
            "last_run": at.isoformat() if at else None,
            "seconds_ago": int(seconds) if seconds is not None else None,
        }
    failing = [name for name, check in checks.items() if not check["ok"]]
    body = {"status": "failing" if failing else "ok", "failing": failing, "checks": checks}
    return JsonResponse(body, status=503 if failing else 200)


def _not_found():
    return HttpResponse("No calendar at this address.\n", status=404, content_type="text/plain; charset=utf-8")


@require_http_methods(["GET", "HEAD"])
def calendar_feed(request, token: str):
    if not token.startswith("rla_") or len(token) > 128:
        return _not_found()
    now = timezone.now()
    # Found by digest only: the token itself is never stored.
    link = selectors.feed_link(token_digest(token), now)
    if link is None:
        return _not_found()
    person = None
    validator = link.validator
    if validator is None:
        person = User.objects.select_related("profile").get(pk=link.person_id)
        validator = selectors.feed_validator(person, now)
    etag, latest = validator.etag, validator.last_modified
    last_modified = http_date((latest or link.created_at).timestamp())
    headers = {
        "ETag": etag,
        "Last-Modified": last_modified,
        "Cache-Control": "private, max-age=300",
        "Referrer-Policy": "no-referrer",
        "X-Robots-Tag": "noindex",
        "Vary": "Accept-Encoding",
    }
    gzipped = _accepts_gzip(request)
    if gzipped:
        # Another representation, so another strong validator (RFC 9110 §8.8.3).
        headers["ETag"] = etag[:-1] + '-gzip"'
    if_none_match = request.headers.get("If-None-Match")
    not_modified = False
    if if_none_match is not None:
        # Compared weakly: a proxy may hand back W/"…", or the other encoding's tag (RFC 9110 §13.1.2).
        wanted = _opaque(etag)
        not_modified = any(tag == "*" or _opaque(tag) == wanted for tag in parse_etags(if_none_match))
    else:
        since = parse_http_date_safe(request.headers.get("If-Modified-Since", ""))
        not_modified = since is not None and latest is not None and int(latest.timestamp()) <= since
    if not_modified:
        response = HttpResponseNotModified()
        for key, value in headers.items():
            response[key] = value
        return response
    if person is None:
        person = User.objects.select_related("profile").get(pk=link.person_id)
    bookings = selectors.feed_for(person, now)
    body = build_feed(owner=person, bookings=list(bookings), now=now, name="Ride-alongs")
    if gzipped:
        # mtime=0: the same feed gives the same compressed bytes, as its strong ETag promises.
        body = gzip.compress(body, compresslevel=6, mtime=0)
    response = HttpResponse(b"" if request.method == "HEAD" else body, content_type="text/calendar; charset=utf-8")
    response["Content-Length"] = str(len(body))
    if gzipped:
        response["Content-Encoding"] = "gzip"
    for key, value in headers.items():
        response[key] = value
    patch_vary_headers(response, ["Accept-Encoding"])
    return response


def _opaque(tag: str) -> str:
    tag = tag.removeprefix("W/")
    return tag[:-6] + '"' if tag.endswith('-gzip"') else tag


def _accepts_gzip(request) -> bool:
    for part in request.headers.get("Accept-Encoding", "").split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() == "gzip":
            return params.replace(" ", "").lower() not in {"q=0", "q=0.0", "q=0.00", "q=0.000"}
    return False


def unavailable(request):
    detail = "Ridealong cannot reach its database just now; try again in a moment."
    if request.path.startswith("/api/"):
        response = JsonResponse({"code": "unavailable", "detail": detail}, status=503)
    else:
        response = HttpResponse(detail + "\n", status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = "5"
    return response


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "not_found", "detail": "No such endpoint or object."}, status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def server_error(request):
    # Called while the exception is being handled: a lost database is an outage to wait out, not a bug.
    error = sys.exc_info()[1]
    if isinstance(error, DatabaseError) and not isinstance(error, IntegrityError | DataError | ProgrammingError):
        return unavailable(request)
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "server_error", "detail": "Something went wrong on our side."}, status=500)
    from django.views.defaults import server_error as default

    return default(request)
