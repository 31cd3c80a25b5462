"""Search scale: GET /shifts?available=true over one week, with 4,400 and with 438,000 shifts stored.

4,400 is a year of day and night shifts on 6 resources; 438,000 the same year on 600 resources.
Prints p50 and p95 for each and the ratio of the p50s (target: at most 2x for 100x the data).

    .venv/bin/python bench/search_scale.py [--requests 60]
"""

import argparse
import time
from datetime import UTC, datetime, timedelta

from common import django_setup, fresh_database, machine, percentile


def populate(resources: int) -> None:
    from scheduling.models import Resource, Shift, Station

    # Bulk rows straight into the tables: the benchmark measures reading them, not how they were made.
    start = datetime(2026, 1, 1, 7, tzinfo=UTC)
    per_station = 10
    stations = Station.objects.bulk_create(
        [
            Station(code=f"S{i:03d}", name=f"Station {i}", min_notice_hours=0)
            for i in range((resources + per_station - 1) // per_station)
        ]
    )
    made = Resource.objects.bulk_create(
        [Resource(station=stations[i // per_station], call_sign=f"R{i}", observer_seats=2) for i in range(resources)]
    )
    batch = []
    for resource in made:
        for day in range(365):
            for hour in (0, 12):
                at = start + timedelta(days=day, hours=hour)
                batch.append(
                    Shift(
                        station_id=resource.station_id,
                        resource=resource,
                        starts_at=at,
                        ends_at=at + timedelta(hours=12),
                        local_date=at.date(),
                        observer_seats=2,
                    )
                )
        if len(batch) >= 20000:
            Shift.objects.bulk_create(batch)
            batch = []
    Shift.objects.bulk_create(batch)


def measure(requests: int) -> list[float]:
    import time_machine
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from scheduling.models import Profile

    user, _ = get_user_model().objects.get_or_create(username="bench")
    Profile.objects.get_or_create(user=user)
    client = APIClient()
    client.force_authenticate(user)
    timings = []
    with time_machine.travel(datetime(2026, 6, 1, tzinfo=UTC), tick=True):
        for i in range(requests + 5):
            week = datetime(2026, 6, 8, tzinfo=UTC) + timedelta(days=i % 30)
            t0 = time.perf_counter()
            response = client.get(
                "/api/v1/shifts",
                {"available": "true", "from": week.isoformat(), "to": (week + timedelta(days=7)).isoformat()},
            )
            elapsed = time.perf_counter() - t0
            assert response.status_code == 200, response.content
            if i >= 5:  # warm-up
                timings.append(elapsed)
    return timings


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    urls = {resources: fresh_database(f"ridealong_bench_search_{resources}") for resources in (6, 600)}
    django_setup(urls[6])
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, connections

    from scheduling.models import Shift

    results = {}
    for resources, url in urls.items():
        connections.close_all()
        settings.DATABASES["default"]["NAME"] = url.rsplit("/", 1)[1]
        connections["default"].settings_dict["NAME"] = settings.DATABASES["default"]["NAME"]
        call_command("migrate", verbosity=0)
        populate(resources)
        with connection.cursor() as cursor:
            # The steady state of a live database, which autovacuum keeps: statistics and visibility map.
            cursor.execute("VACUUM ANALYZE")
        timings = measure(args.requests)
        results[resources] = timings
        print(
            f"{Shift.objects.count():>7} shifts: p50 {percentile(timings, 50) * 1000:.1f} ms, "
            f"p95 {percentile(timings, 95) * 1000:.1f} ms"
        )
    ratio = percentile(results[600], 50) / percentile(results[6], 50)
    print(f"p50 ratio 438,000 / 4,400 = {ratio:.2f} (target <= 2)")


if __name__ == "__main__":
    main()
