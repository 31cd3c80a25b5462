"""Endpoints outside the API: health, readiness and the error handlers (SPEC §11, §16).

The calendar feed's view lives with the rest of the feed, in feed.py.
"""

import sys

from django.contrib.auth import get_user_model
from django.db import DatabaseError, DataError, IntegrityError, ProgrammingError, connection
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext

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


def unavailable(request):
    detail = gettext("Ridealong cannot reach its database just now; try again in a moment.")
    if request.path.startswith("/api/"):
        response = JsonResponse({"code": "unavailable", "detail": detail}, status=503)
    else:
        response = HttpResponse(detail + "\n", status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = "5"
    return response


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "not_found", "detail": gettext("No such endpoint or object.")}, status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def server_error(request):
    # Called while the exception is being handled: a lost database is an outage to wait out, not a bug.
    error = sys.exc_info()[1]
    if isinstance(error, DatabaseError) and not isinstance(error, IntegrityError | DataError | ProgrammingError):
        return unavailable(request)
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"code": "server_error", "detail": gettext("Something went wrong on our side.")}, status=500
        )
    from django.views.defaults import server_error as default

    return default(request)
