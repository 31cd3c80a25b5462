"""Booking race: PostgreSQL, gunicorn with the project's config, 16 client threads booking across many shifts and
racing for shared last seats. Prints bookings per second, latency, overbooked seats, and GET /me for scale.

    .venv/bin/python bench/booking_race.py [--seconds 20] [--slices 4]
"""

import argparse
import http.client
import json
import random
import threading
import time
from datetime import datetime, timedelta

from common import django_setup, fresh_database, machine, percentile, spread_shifts, start_gunicorn

THREADS = 16


def seed(shift_count: int, people: int):
    from django.utils import timezone

    from scheduling import services

    # Every 10th shift has a single last seat.
    shifts = spread_shifts("BENCH", 20, shift_count, seats=lambda i: 1 if i % 10 == 0 else 2)
    tokens = []
    for i in range(people):
        person = services.create_person(username=f"bench{i}", password="bench-password-long-enough", is_requester=True)
        for kind in ("dbs", "confidentiality", "briefing"):
            person.clearances.create(kind=kind, valid_from=datetime(2020, 1, 1).date())
        tokens.append(services.accounts.issue_api_token(person=person, name="bench", now=timezone.now())[1])
    return shifts, tokens


def hammer(base, seconds, make_request, seed=0):
    host, port = base.removeprefix("http://").split(":")
    stop = time.monotonic() + seconds
    latencies, statuses, lock = [], {}, threading.Lock()

    def worker(n):
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        rng = random.Random(seed * 1000 + n)  # a fresh stream per slice, or slices repeat requests
        while time.monotonic() < stop:
            method, path, body, token = make_request(rng)
            t0 = time.perf_counter()
            conn.request(
                method, path, body=body, headers={"Authorization": f"Token {token}", "Content-Type": "application/json"}
            )
            response = conn.getresponse()
            payload = response.read()
            elapsed = time.perf_counter() - t0
            outcome = str(response.status)
            if response.status >= 400:
                outcome += " " + str(json.loads(payload or b"{}").get("code", ""))
            elif method == "POST":
                outcome += " " + str(json.loads(payload).get("status", ""))
            with lock:
                latencies.append(elapsed)
                statuses[outcome] = statuses.get(outcome, 0) + 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, statuses, time.monotonic() - started


def queries_per_booking(shift_id: int, token: str) -> int:
    """The same request in this process, its queries counted (BEGIN and COMMIT left out)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from scheduling import services
    from scheduling.models import Booking, Shift

    # The same shift's times far ahead, so the request makes a booking whatever the race left.
    shift = Shift.objects.get(pk=shift_id)
    later = services.create_shift(
        actor=None,
        resource_id=shift.resource_id,
        starts_at=shift.starts_at + timedelta(days=3000),
        ends_at=shift.ends_at + timedelta(days=3000),
        now=timezone.now(),
    )
    body = json.dumps({"shift": later.pk, "purpose": "Benchmark"})
    with CaptureQueriesContext(connection) as captured:
        response = Client().post(
            "/api/v1/bookings", body, content_type="application/json", HTTP_AUTHORIZATION=f"Token {token}"
        )
    assert response.status_code == 201 and Booking.objects.filter(shift=later).exists(), response.content
    return sum(1 for q in captured.captured_queries if q["sql"] not in ("BEGIN", "COMMIT"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20, help="per load, over all slices")
    parser.add_argument("--slices", type=int, default=4)
    parser.add_argument("--shifts", type=int, default=400)
    parser.add_argument("--people", type=int, default=300)
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: the project's config)")
    args = parser.parse_args()
    url = fresh_database("ridealong_bench_race")
    django_setup(url)
    shifts, tokens = seed(args.shifts, args.people)
    hot = shifts[::10]  # the single-seat shifts everyone races for
    server, base = start_gunicorn(url, workers=args.workers)
    try:

        def booking(rng):
            shift = rng.choice(hot) if rng.random() < 0.3 else rng.choice(shifts)
            body = json.dumps({"shift": shift, "purpose": "Benchmark", "allow_waitlist": rng.random() < 0.5})
            return "POST", "/api/v1/bookings", body, rng.choice(tokens)

        def me(rng):
            return "GET", "/api/v1/me", None, rng.choice(tokens)

        # Alternate short slices of each load, so a machine that speeds up or slows down during the
        # run (other tenants, the database's own housekeeping) weighs on both figures alike.
        b_lat, b_status, b_time, m_lat, m_status, m_time = [], {}, 0.0, [], {}, 0.0
        for slice_no in range(args.slices):
            lat, statuses, took = hammer(base, args.seconds / args.slices, booking, slice_no)
            b_lat += lat
            b_time += took
            for code, n in statuses.items():
                b_status[code] = b_status.get(code, 0) + n
            lat, statuses, took = hammer(base, args.seconds / args.slices, me, slice_no)
            m_lat += lat
            m_time += took
            for code, n in statuses.items():
                m_status[code] = m_status.get(code, 0) + n
    finally:
        server.terminate()
        server.wait()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("""SELECT COALESCE(SUM(GREATEST(held - s.observer_seats, 0)), 0) FROM scheduling_shift s
                          JOIN (SELECT shift_id, COUNT(*) AS held FROM scheduling_place WHERE state = 'held'
                                GROUP BY shift_id) p ON p.shift_id = s.id""")
        overbooked = cursor.fetchone()[0]
    booking_rate = len(b_lat) / b_time
    me_rate = len(m_lat) / m_time
    print(f"machine: {machine()}")
    statuses = dict(sorted(b_status.items()))
    print(f"booking requests: {len(b_lat)} in {b_time:.1f} s = {booking_rate:.1f}/s; statuses {statuses}")
    print(f"booking latency: p50 {percentile(b_lat, 50) * 1000:.1f} ms, p99 {percentile(b_lat, 99) * 1000:.1f} ms")
    print(
        f"GET /me: {len(m_lat)} in {m_time:.1f} s = {me_rate:.1f}/s; statuses {dict(sorted(m_status.items()))}; "
        f"p50 {percentile(m_lat, 50) * 1000:.1f} ms, "
        f"p99 {percentile(m_lat, 99) * 1000:.1f} ms"
    )
    print(f"booking throughput / GET /me throughput = {booking_rate / me_rate:.2f} (target >= 0.4)")
    print(f"queries for one booking that is made: {queries_per_booking(shifts[1], tokens[0])}")
    print(f"overbooked seats: {overbooked} (must be 0)")


if __name__ == "__main__":
    main()
