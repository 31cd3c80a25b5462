"""Programme progress (SPEC §18) for a cohort of 200 members with a year of ride-alongs each (about 24 a
member, 4,800 in all): GET /programmes/{id}/progress?page_size=200 as the coordinator, p50 and p95.

    .venv/bin/python bench/programmes.py [--requests 40]
"""

import argparse
import time
from datetime import UTC, date, datetime, timedelta

from common import django_setup, fresh_database, machine, percentile

MEMBERS, PER_MEMBER = 200, 24


def populate():
    from django.contrib.auth import get_user_model

    from scheduling.models import Booking, Place, Profile, Programme, Resource, Shift, Station

    User = get_user_model()
    stations = Station.objects.bulk_create([Station(code=f"P{i}", name=f"Station {i}") for i in range(4)])
    resources = Resource.objects.bulk_create(
        [Resource(station=s, call_sign=f"{s.code}R{n}", observer_seats=200) for s in stations for n in range(3)]
    )
    people = User.objects.bulk_create([User(username=f"member{i}") for i in range(MEMBERS)])
    Profile.objects.bulk_create([Profile(user=u, name=f"Member {u.username}") for u in people], ignore_conflicts=True)
    start = datetime(2026, 1, 5, 7, tzinfo=UTC)
    shifts = Shift.objects.bulk_create(
        [
            Shift(
                station_id=r.station_id,
                resource=r,
                starts_at=start + timedelta(days=15 * k, hours=12 * (k % 2)),
                ends_at=start + timedelta(days=15 * k, hours=12 * (k % 2) + 12),
                local_date=(start + timedelta(days=15 * k)).date(),
                is_night=bool(k % 2),
                observer_seats=200,
            )
            for k in range(PER_MEMBER)
            for r in resources[k % 3 :: 3][:1]
        ]
    )
    bookings, places = [], []
    for person in people:
        for shift in shifts:
            bookings.append(
                Booking(
                    shift=shift,
                    requested_by=person,
                    purpose="Scheme",
                    status="approved",
                    outcome="attended",
                    lead_approved=True,
                    created_at=start,
                    updated_at=start,
                    status_changed_at=start,
                )
            )
    made = Booking.objects.bulk_create(bookings, batch_size=2000)
    for booking in made:
        places.append(
            Place(
                booking=booking,
                person_id=booking.requested_by_id,
                shift=booking.shift,
                state="held",
                starts_at=booking.shift.starts_at,
                ends_at=booking.shift.ends_at,
            )
        )
    Place.objects.bulk_create(places, batch_size=2000)
    coordinator = User.objects.create(username="coordinator")
    Profile.objects.get_or_create(user=coordinator)
    programme = Programme.objects.create(
        name="Cohort",
        starts_on=date(2026, 1, 1),
        ends_on=date(2026, 12, 31),
        target_ride_alongs=20,
        target_nights=10,
        target_hours=240,
        target_stations=3,
    )
    programme.members.set(people)
    programme.coordinators.set([coordinator])
    return programme, coordinator


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    django_setup(fresh_database("ridealong_bench_programmes"))
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    programme, coordinator = populate()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    client = APIClient()
    client.force_authenticate(coordinator)
    timings = []
    for i in range(args.requests + 3):
        with CaptureQueriesContext(connection) as seen:
            t0 = time.perf_counter()
            response = client.get(f"/api/v1/programmes/{programme.pk}/progress", {"page_size": 200})
            elapsed = time.perf_counter() - t0
        assert response.status_code == 200 and response.json()["count"] == MEMBERS, response.content[:200]
        if i >= 3:
            timings.append(elapsed)
    rows = response.json()["results"]
    print(f"{MEMBERS} members, {MEMBERS * PER_MEMBER} ride-alongs; {len(seen.captured_queries)} queries a request")
    print(f"first member: {rows[0]['ride_alongs']['done']} ride-alongs, {rows[0]['hours']['done']} hours")
    print(f"progress: p50 {percentile(timings, 50) * 1000:.1f} ms, p95 {percentile(timings, 95) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
