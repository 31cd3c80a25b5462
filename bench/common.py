"""Shared helpers for the benchmarks: a PostgreSQL database of their own, a gunicorn server, timing."""

import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"
    )


def fresh_database(name: str) -> str:
    """Drop and create a database for one benchmark; returns its DATABASE_URL."""
    import psycopg

    with psycopg.connect(PG + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{PG}/{name}"


# The benchmarks run the production settings over plain HTTP on loopback.
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789abcdef-not-for-production")
os.environ.setdefault("RIDEALONG_HTTPS", "false")


def django_setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def spread_shifts(code: str, resources: int, count: int, seats) -> list[int]:
    """A station with `resources` vehicles and `count` 12-hour shifts from two days ahead, one per vehicle
    every 13 hours, so a person can hold places on many; `seats(i)` gives shift i's observer seats."""
    from datetime import UTC, datetime, timedelta

    from django.utils import timezone

    from scheduling import services
    from scheduling.models import Resource, Station

    station = Station.objects.create(code=code, name=code.title(), min_notice_hours=0, crew_hosting_limit=None)
    vehicles = [Resource.objects.create(station=station, call_sign=f"{code[0]}{i}") for i in range(resources)]
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    shifts = []
    for i in range(count):
        at = start + timedelta(hours=13 * (i // resources))
        shift = services.create_shift(
            actor=None,
            resource_id=vehicles[i % resources].pk,
            starts_at=at,
            ends_at=at + timedelta(hours=12),
            observer_seats=seats(i),
            now=timezone.now(),
        )
        shifts.append(shift.pk)
    return shifts


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(database_url: str, workers: int | None = None) -> tuple[subprocess.Popen, str]:
    """gunicorn with the project's gunicorn.conf.py; `workers` overrides its number of workers."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        **({"GUNICORN_WORKERS": str(workers)} if workers else {}),
        "GUNICORN_ACCESSLOG": "",
        "DB_CONN_MAX_AGE": "60",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "backend.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)  # noqa: S310 - loopback
            return process, base
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("gunicorn did not start")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 50) * 1000:.1f} ms, p95 {percentile(values, 95) * 1000:.1f} ms, "
        f"p99 {percentile(values, 99) * 1000:.1f} ms, mean {statistics.fmean(values) * 1000:.1f} ms"
    )
