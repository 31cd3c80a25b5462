"""Prometheus metrics (SPEC §16): requests by route and status, feed answers, bookings and the outbox.

Under gunicorn each worker counts in PROMETHEUS_MULTIPROC_DIR (set by gunicorn.conf.py) and a scrape
adds them up; the database-backed gauges are read at scrape time.
"""

import os
import secrets

from django.conf import settings
from django.http import HttpResponse
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from .addresses import is_direct_loopback

REQUESTS = Counter("ridealong_http_requests_total", "HTTP requests", ["route", "method", "status"])
LATENCY = Histogram(
    "ridealong_http_request_duration_seconds",
    "HTTP request duration",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
FEED = Counter("ridealong_feed_answers_total", "Calendar feed answers", ["status"])


def route_of(request) -> str:
    """The URL pattern, not the path: ids and tokens would make one series per object."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return match.route or match.view_name or "unmatched"


def observe_request(request, response, seconds: float) -> None:
    route, method = route_of(request), request.method
    REQUESTS.labels(route, method, str(response.status_code)).inc()
    LATENCY.labels(route, method).observe(seconds)
    if route.startswith("calendar/") and response.status_code in (200, 304):
        FEED.labels(str(response.status_code)).inc()


class DatabaseCollector:
    """Bookings by state, outbox backlog and dead letters, read when scraped."""

    def collect(self):
        from django.db.models import Count

        from .models import Booking, Notification

        bookings = GaugeMetricFamily("ridealong_bookings", "Bookings by state", labels=["state"])
        for state, count in Booking.objects.order_by().values_list("status").annotate(n=Count("id")):
            bookings.add_metric([state], count)
        yield bookings
        waiting = Notification.objects.filter(sent_at=None, dead_at=None).count()
        dead = Notification.objects.filter(sent_at=None).exclude(dead_at=None).count()
        yield GaugeMetricFamily("ridealong_outbox_backlog", "Notifications waiting to be sent", value=waiting)
        yield GaugeMetricFamily("ridealong_outbox_dead", "Notifications given up after 10 failures", value=dead)


def registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        reg = CollectorRegistry()
        multiprocess.MultiProcessCollector(reg)
    else:
        reg = CollectorRegistry()
        for collector in (REQUESTS, LATENCY, FEED):
            reg.register(collector)
    reg.register(DatabaseCollector())
    return reg


def allowed(request) -> bool:
    """Loopback without a proxy between, or `Authorization: Bearer <METRICS_TOKEN>`."""
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer ") and secrets.compare_digest(header[7:].strip(), token):
        return True
    return is_direct_loopback(request)


def metrics_view(request):
    if not allowed(request):
        return HttpResponse("Forbidden.\n", status=403, content_type="text/plain; charset=utf-8")
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
