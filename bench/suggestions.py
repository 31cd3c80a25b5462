"""Open-request suggestions (SPEC §17) at a trust's size: 40 stations, 400 vehicles, a year of day and night
shifts (292,000 shifts, 584,000 crew rows). Times GET /open-requests/{id}/suggestions for a 62-day window
at one station, as its lead, against GET /shifts listing the same station and window.

    .venv/bin/python bench/suggestions.py [--requests 40]
"""

import argparse
import time
from datetime import UTC, date, datetime, timedelta

from common import PG, django_setup, fresh_database, machine, percentile

STATIONS, VEHICLES, DAYS = 40, 10, 365


def populate() -> None:
    from django.contrib.auth import get_user_model

    from scheduling.models import CrewMember, Profile, Resource, Shift, Station

    User = get_user_model()
    start = datetime(2026, 6, 1, 6, tzinfo=UTC)
    stations = Station.objects.bulk_create(
        [Station(code=f"S{i:02d}", name=f"Station {i}", min_notice_hours=72) for i in range(STATIONS)]
    )
    users = User.objects.bulk_create([User(username=f"crew{i}") for i in range(STATIONS * 4 * VEHICLES)])
    Profile.objects.bulk_create([Profile(user=u, name=u.username) for u in users], ignore_conflicts=True)
    resources = Resource.objects.bulk_create(
        [Resource(station=s, call_sign=f"{s.code}V{v}", observer_seats=2) for s in stations for v in range(VEHICLES)]
    )
    placing = {r.pk: divmod(n, VEHICLES) for n, r in enumerate(resources)}
    shifts, crew = [], []
    for n, resource in enumerate(resources):
        for day in range(DAYS):
            for half in (0, 1):
                at = start + timedelta(days=day, hours=12 * half)
                shifts.append(
                    Shift(
                        station_id=resource.station_id,
                        resource=resource,
                        starts_at=at,
                        ends_at=at + timedelta(hours=12),
                        local_date=at.date(),
                        is_night=bool(half),
                        observer_seats=2,
                    )
                )
        if len(shifts) >= 20000 or n == len(resources) - 1:
            made = Shift.objects.bulk_create(shifts)
            for shift in made:
                # Each vehicle and half-day has two people of its own station's forty: nobody works twice at once.
                station_of, v = placing[shift.resource_id]
                staff = users[station_of * 4 * VEHICLES : (station_of + 1) * 4 * VEHICLES]
                half = 1 if shift.is_night else 0
                for k in (0, 1):
                    person = staff[v * 4 + half * 2 + k]
                    crew.append(
                        CrewMember(
                            shift=shift,
                            person=person,
                            role="paramedic" if k == 0 else "technician",
                            starts_at=shift.starts_at,
                            ends_at=shift.ends_at,
                        )
                    )
            CrewMember.objects.bulk_create(crew, batch_size=5000)
            shifts, crew = [], []


def measure(requests: int) -> dict[str, list[float]]:
    import time_machine
    from rest_framework.test import APIClient

    from scheduling import services
    from scheduling.models import Station
    from tests.factories import make_person

    station = Station.objects.get(code="S07")
    from django.contrib.auth import get_user_model

    people = get_user_model().objects
    lead = people.filter(username="benchlead").first() or make_person("benchlead", cleared=False)
    station.leads.add(lead)
    asker = people.filter(username="benchasker").first() or make_person("benchasker", requester=True)
    now = datetime(2026, 9, 1, 12, tzinfo=UTC)
    window = (date(2026, 10, 1), date(2026, 12, 2))
    timings = {"suggestions": [], "shifts": []}
    with time_machine.travel(now, tick=True):
        request = services.open_requests.create_open_request(
            actor=asker, station_id=station.pk, from_date=window[0], to_date=window[1], purpose="Bench", now=now
        )
        client = APIClient()
        client.force_authenticate(lead)
        for i in range(requests + 3):
            for name, path, params in (
                ("suggestions", f"/api/v1/open-requests/{request.pk}/suggestions", {}),
                (
                    "shifts",
                    "/api/v1/shifts",
                    {"station": station.pk, "from": f"{window[0]}T00:00:00Z", "to": f"{window[1]}T23:59:59Z"},
                ),
            ):
                t0 = time.perf_counter()
                response = client.get(path, params)
                elapsed = time.perf_counter() - t0
                assert response.status_code == 200, response.content[:300]
                if i >= 3:
                    timings[name].append(elapsed)
    return timings


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--reuse", action="store_true", help="keep the database a previous run built")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    name = "ridealong_bench_suggestions"
    django_setup(f"{PG}/{name}" if args.reuse else fresh_database(name))
    from django.db import connection

    from scheduling.models import CrewMember, OpenRequest, Shift

    t0 = time.perf_counter()
    if not args.reuse:
        populate()
    # A run on a reused database asks anew; requests from earlier runs are withdrawn (audit events stay).
    OpenRequest.objects.update(status="withdrawn")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"{Shift.objects.count()} shifts, {CrewMember.objects.count()} crew rows ({time.perf_counter() - t0:.0f} s)")
    timings = measure(args.requests)
    for name, values in timings.items():
        print(f"{name:>12}: p50 {percentile(values, 50) * 1000:.1f} ms, p95 {percentile(values, 95) * 1000:.1f} ms")
    ratio = percentile(timings["suggestions"], 50) / percentile(timings["shifts"], 50)
    print(f"suggestions / shift listing (p50): {ratio:.2f}")


if __name__ == "__main__":
    main()
