"""The station report at 500 bookings and 40 crew members (SPEC §15): the lead's hosting-load page and the
`GET /api/v1/stations/{id}/report` answer, rendered in-process. Target: under 200 ms.

    .venv/bin/python bench/report.py [--repeat 20]
"""

import argparse
import statistics
import time
from datetime import datetime, timedelta

from common import django_setup, fresh_database, machine, percentile


def populate(now: datetime):
    from django.contrib.auth import get_user_model

    from scheduling.models import (
        Booking,
        BookingStatus,
        CrewMember,
        Place,
        PlaceState,
        Profile,
        Resource,
        Shift,
        Station,
    )

    User = get_user_model()
    # Bulk rows straight into the tables: the benchmark measures reading them, not how they were made.
    lead = User.objects.create(username="benchlead", is_staff=False)
    Profile.objects.get_or_create(user=lead)
    station = Station.objects.create(code="REP", name="Report", min_notice_hours=0)
    station.leads.add(lead)
    crew = User.objects.bulk_create([User(username=f"crew{i}") for i in range(40)])
    Profile.objects.bulk_create([Profile(user=c, name=f"Crew member {i}") for i, c in enumerate(crew)])
    observers = User.objects.bulk_create([User(username=f"obs{i}") for i in range(100)])
    Profile.objects.bulk_create([Profile(user=o) for o in observers])
    resources = Resource.objects.bulk_create([Resource(station=station, call_sign=f"R{i}") for i in range(20)])
    shifts, members, bookings, places = [], [], [], []
    start = now - timedelta(days=330)
    for i in range(500):
        at = start + timedelta(hours=16 * i)
        shifts.append(
            Shift(
                station=station,
                resource=resources[i % 20],
                starts_at=at,
                ends_at=at + timedelta(hours=12),
                local_date=at.date(),
            )
        )
    shifts = Shift.objects.bulk_create(shifts)
    for i, shift in enumerate(shifts):
        for j in (i % 40, (i + 7) % 40):
            members.append(
                CrewMember(
                    shift=shift, person=crew[j], role="paramedic", starts_at=shift.starts_at, ends_at=shift.ends_at
                )
            )
        status = [BookingStatus.APPROVED, BookingStatus.CANCELLED, BookingStatus.DECLINED, BookingStatus.PENDING][i % 4]
        bookings.append(
            Booking(
                shift=shift,
                requested_by=observers[i % 100],
                purpose="Bench",
                status=status,
                outcome="attended" if status == BookingStatus.APPROVED and shift.starts_at < now else "",
                created_at=now,
                updated_at=now,
                status_changed_at=now,
            )
        )
    CrewMember.objects.bulk_create(members)
    bookings = Booking.objects.bulk_create(bookings)
    for b, shift in zip(bookings, shifts, strict=True):
        held = b.status in (BookingStatus.APPROVED, BookingStatus.PENDING)
        places.append(
            Place(
                booking=b,
                person_id=b.requested_by_id,
                shift=shift,
                starts_at=shift.starts_at,
                ends_at=shift.ends_at,
                state=PlaceState.HELD if held else PlaceState.RELEASED,
            )
        )
    # Held places of one observer may overlap in this synthetic year; the report does not care.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE scheduling_place DROP CONSTRAINT IF EXISTS place_no_overlapping_held")
    Place.objects.bulk_create(places)
    return station, lead


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    django_setup(fresh_database("ridealong_bench_report"))
    from django.test import Client
    from django.utils import timezone

    now = timezone.now()
    station, lead = populate(now)
    client = Client()
    client.force_login(lead)
    print(f"machine: {machine()}")
    for label, path in (
        ("page /lead/stations/{id}/report/", f"/lead/stations/{station.pk}/report/"),
        ("API /api/v1/stations/{id}/report", f"/api/v1/stations/{station.pk}/report"),
    ):
        client.get(path)  # warm: templates compiled, connection open
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            response = client.get(path)
            times.append(time.perf_counter() - started)
            assert response.status_code == 200, response.status_code
        print(
            f"{label}: 500 bookings, 40 crew: p50 {percentile(times, 50) * 1000:.1f} ms, "
            f"max {max(times) * 1000:.1f} ms, mean {statistics.fmean(times) * 1000:.1f} ms (target < 200 ms)"
        )


if __name__ == "__main__":
    main()
