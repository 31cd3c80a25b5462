"""A backup restores into an empty database with its data, constraints and triggers working (SPEC §16).

`pg_dump -Fc` of a populated database, `pg_restore` into a fresh one, as the README says; then in the
restored database a race for the last seat still has one winner, audit events still cannot be edited
and the calendar-feed triggers still write their notes.
"""

import os
import shutil
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from scheduling import services
from tests.factories import local, make_person, make_resource, make_shift, make_station

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 10, 1, 12, tzinfo=UTC)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.DATABASES["default"]["ENGINE"].endswith("postgresql") or shutil.which("pg_dump") is None,
        reason="backups are of PostgreSQL: run with DATABASE_URL=postgres://… and pg_dump installed",
    ),
]

RACE = textwrap.dedent(
    """
    import threading, django
    from datetime import datetime, UTC
    django.setup()
    from django.db import connections
    from scheduling import services
    from scheduling.errors import BookingError
    from scheduling.models import Place, Shift
    from django.contrib.auth import get_user_model

    shift = Shift.objects.get(external_ref="LAST-SEAT")
    people = list(get_user_model().objects.filter(username__startswith="racer").order_by("pk"))
    barrier = threading.Barrier(len(people))

    def book(person):
        try:
            barrier.wait()
            services.request_booking(actor=person, shift_id=shift.pk, purpose="Race",
                                     allow_waitlist=False, now=datetime(2026, 10, 1, 12, tzinfo=UTC))
        except BookingError:
            pass
        finally:
            connections.close_all()

    threads = [threading.Thread(target=book, args=(p,)) for p in people]
    [t.start() for t in threads]
    [t.join(30) for t in threads]
    print(Place.objects.filter(shift=shift, state="held").count())
    """
)


def params(name: str) -> dict:
    db = settings.DATABASES["default"]
    return {k: v for k, v in {"host": db["HOST"], "port": db["PORT"], "user": db["USER"]}.items() if v} | {
        "dbname": name
    }


def cli_args(name: str) -> list[str]:
    p = params(name)
    return [
        *(["-h", str(p["host"])] if "host" in p else []),
        *(["-p", str(p["port"])] if "port" in p else []),
        *(["-U", p["user"]] if "user" in p else []),
        "-d",
        name,
    ]


def test_a_dump_restored_into_a_fresh_database_keeps_data_constraints_and_triggers(tmp_path):
    lead = make_person(cleared=False)
    station = make_station("BAK", leads=[lead])
    make_shift(
        make_resource(station, "LAST", seats=1), local(2026, 10, 20, 19), local(2026, 10, 21, 7), ref="LAST-SEAT"
    )
    other = make_shift(make_resource(station, "DA1"), local(2026, 10, 22, 19), local(2026, 10, 23, 7))
    requester = make_person(requester=True)
    booking = services.request_booking(actor=requester, shift_id=other.pk, purpose="Before the backup", now=NOW)
    third = make_shift(make_resource(station, "DA2"), local(2026, 10, 25, 19), local(2026, 10, 26, 7))
    services.request_booking(actor=make_person(requester=True), shift_id=third.pk, purpose="Another", now=NOW)
    for i in range(8):
        make_person(f"racer{i}", requester=True)

    source = connection.settings_dict["NAME"]
    restored = f"{source}_restored"
    dump = tmp_path / "ridealong.dump"
    connection.close()
    subprocess.run(["pg_dump", "-Fc", "-f", str(dump), *cli_args(source)], check=True)
    with psycopg.connect(**params("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{restored}"')
        admin.execute(f'CREATE DATABASE "{restored}"')
    try:
        subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", *cli_args(restored), str(dump)], check=True)
        with psycopg.connect(**params(restored), autocommit=True) as db:
            assert db.execute("SELECT purpose FROM scheduling_booking WHERE id = %s", [booking.pk]).fetchone() == (
                "Before the backup",
            )
            with pytest.raises(psycopg.errors.RaiseException, match="never changed"):
                db.execute("UPDATE scheduling_auditevent SET action = 'forged'")
            with pytest.raises(psycopg.errors.RaiseException):
                db.execute("DELETE FROM scheduling_auditevent")
            before = db.execute("SELECT count(*) FROM scheduling_feedchange").fetchone()[0]
            db.execute("UPDATE scheduling_booking SET revision = revision + 1 WHERE id = %s", [booking.pk])
            assert db.execute("SELECT count(*) FROM scheduling_feedchange").fetchone()[0] > before
            place = db.execute(
                "SELECT person_id, starts_at, ends_at FROM scheduling_place WHERE booking_id = %s", [booking.pk]
            ).fetchone()
            with pytest.raises(psycopg.errors.ExclusionViolation):
                db.execute(
                    "INSERT INTO scheduling_place (booking_id, person_id, shift_id, starts_at, ends_at, state, "
                    "cancelled_by_observer) SELECT id, %s, shift_id, %s, %s, 'held', false FROM scheduling_booking "
                    "WHERE id <> %s LIMIT 1",
                    [place[0], place[1], place[2], booking.pk],
                )
        url = "postgres://{user}@{host}:{port}/{dbname}".format(
            **{"user": "postgres", "host": "127.0.0.1", "port": 5432, **params(restored)}
        )
        race = subprocess.run(
            [sys.executable, "-c", RACE],
            cwd=ROOT,
            env={
                **os.environ,
                "DATABASE_URL": url,
                "DJANGO_SETTINGS_MODULE": "backend.settings",
                "LOG_LEVEL": "WARNING",
            },
            capture_output=True,
            text=True,
            check=True,
        )
        assert race.stdout.strip().splitlines()[-1] == "1", race.stdout + race.stderr
    finally:
        with psycopg.connect(**params("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{restored}" WITH (FORCE)')
