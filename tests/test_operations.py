"""Running it in a trust (SPEC §16): JSON logs with request ids, health, readiness and metrics."""

import io
import json
import logging
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from scheduling import services
from scheduling.logging import mask
from scheduling.models import Heartbeat, Notification


@pytest.fixture
def json_log():
    """The project's own handler config (JSON, request id, masking), writing to a buffer."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(import_string("scheduling.logging.RidealongJsonFormatter")())
    handler.addFilter(import_string("scheduling.logging.AddRequestId")())
    handler.addFilter(import_string("scheduling.logging.MaskCalendarTokens")())
    assert settings.LOGGING["handlers"]["console"]["formatter"] == "json"
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def lines(stream) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_one_request_logs_json_lines_with_its_request_id_and_no_token(client, requester, json_log):
    token = services.issue_calendar_token(person=requester, now=timezone.now())
    response = client.get(f"/calendar/{token}.ics", HTTP_X_REQUEST_ID="trace-42")
    assert response["X-Request-ID"] == "trace-42"
    logged = [entry for entry in lines(json_log) if entry.get("request_id") == "trace-42"]
    assert logged, json_log.getvalue()
    entry = logged[-1]
    assert {"time", "level", "logger", "message", "method", "path", "status", "duration_ms"} <= set(entry)
    assert entry["status"] == 200 and entry["method"] == "GET"
    assert token not in json_log.getvalue() and "rla_***" in entry["path"]


def test_a_request_id_is_made_when_none_or_a_bad_one_comes(client, db):
    made = client.get("/healthz")["X-Request-ID"]
    assert len(made) >= 16
    assert client.get("/healthz", HTTP_X_REQUEST_ID="bad id\n")["X-Request-ID"] != "bad id\n"


@pytest.mark.parametrize(
    "path",
    [
        "/calendar/rla_abcDEF123-_x.ics",
        "/calendar/rla%5FabcDEF123.ics",
        "/calendar/rla%5fabcDEF123.ics",
        "/calendar/rla_%61bcDEF123.ics",
        "/calendar/r%6Ca_abcDEF123.ics",
        "/api/v1/me?token=rlt_abcDEF123",
    ],
)
def test_tokens_are_masked_also_when_percent_encoded(path):
    assert "abcDEF123" not in mask(path)


def test_healthz_and_readyz(client, db):
    assert client.get("/healthz").status_code == 200
    now = timezone.now()
    Heartbeat.beat("delivery", now)
    Heartbeat.beat("process_due", now)
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.json()
    assert ready.json()["status"] == "ok"


def test_readyz_names_a_stale_delivery_worker(client, db):
    now = timezone.now()
    Heartbeat.beat("delivery", now - timedelta(minutes=30))
    Heartbeat.beat("process_due", now)
    body = client.get("/readyz")
    assert body.status_code == 503
    assert body.json()["failing"] == ["delivery"]


def test_readyz_names_unsent_mail_and_unapplied_migrations(client, requester, night, book, monkeypatch):
    now = timezone.now()
    Heartbeat.beat("delivery", now)
    Heartbeat.beat("process_due", now)
    book(requester, night)
    Notification.objects.update(created_at=now - timedelta(hours=1))
    from django.db.migrations.executor import MigrationExecutor

    monkeypatch.setattr(
        MigrationExecutor,
        "migration_plan",
        lambda self, targets: [(type("M", (), {"app_label": "scheduling", "name": "0099_future"})(), False)],
    )
    body = client.get("/readyz").json()
    assert body["failing"] == ["migrations", "outbox"]
    assert body["checks"]["migrations"]["unapplied"] == ["scheduling.0099_future"]


def test_background_jobs_beat(db, capsys):
    call_command("process_due")
    call_command("deliver_notifications")
    assert set(Heartbeat.objects.values_list("name", flat=True)) == {"delivery", "process_due"}


def test_metrics_for_loopback_or_the_token_only(client, requester, night, book, settings):
    book(requester, night)
    client.get("/healthz")
    local = client.get("/metrics")
    assert local.status_code == 200
    text = local.content.decode()
    assert 'ridealong_http_requests_total{method="GET",route="healthz",status="200"}' in text
    assert 'ridealong_bookings{state="pending"} 1.0' in text
    assert "ridealong_outbox_backlog" in text and "ridealong_outbox_dead 0.0" in text
    outside = Client(REMOTE_ADDR="203.0.113.9")
    assert outside.get("/metrics").status_code == 403
    settings.METRICS_TOKEN = "scrape-secret"
    assert outside.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert outside.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret").status_code == 200


def test_feed_answers_are_counted_200_and_304(client, requester, night, book):
    book(requester, night)
    token = services.issue_calendar_token(person=requester, now=timezone.now())
    first = client.get(f"/calendar/{token}.ics")
    client.get(f"/calendar/{token}.ics", HTTP_IF_NONE_MATCH=first["ETag"])
    text = client.get("/metrics").content.decode()
    assert 'ridealong_feed_answers_total{status="200"}' in text
    assert 'ridealong_feed_answers_total{status="304"}' in text
