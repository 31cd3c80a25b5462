"""A real subscriber end to end: vdirsyncer syncs the feed over HTTP into a folder and khal lists it."""

import subprocess
import sys
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from scheduling import services
from tests.factories import LONDON, make_person, make_resource, make_shift, make_station

BIN = Path(sys.executable).parent
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (BIN / "vdirsyncer").exists() or not (BIN / "khal").exists(),
        reason="vdirsyncer and khal are test dependencies: run `make test`",
    ),
]


class Subscriber:
    def __init__(self, folder: Path, url: str):
        self.folder = folder
        (folder / "status").mkdir()
        (folder / "cal").mkdir()
        self.vdir_config = folder / "vdirsyncer.conf"
        self.vdir_config.write_text(f"""
[general]
status_path = "{folder / "status"}/"

[pair ridealong]
a = "ridealong_remote"
b = "ridealong_local"
collections = null
conflict_resolution = "a wins"

[storage ridealong_remote]
type = "http"
url = "{url}"

[storage ridealong_local]
type = "filesystem"
path = "{folder / "cal"}/"
fileext = ".ics"
""")
        self.khal_config = folder / "khal.conf"
        self.khal_config.write_text(f"""
[calendars]
[[rides]]
path = {folder / "cal"}/
type = calendar

[locale]
timeformat = %H:%M
dateformat = %Y-%m-%d
longdateformat = %Y-%m-%d
datetimeformat = %Y-%m-%d %H:%M
longdatetimeformat = %Y-%m-%d %H:%M
local_timezone = Europe/London
default_timezone = Europe/London
""")

    def sync(self, *extra):
        for step in ("discover", "sync"):
            args = [step, *extra] if step == "sync" else [step]
            result = subprocess.run(
                [str(BIN / "vdirsyncer"), "-c", str(self.vdir_config), *args],
                capture_output=True,
                text=True,
                timeout=60,
                input="y\n" * 5,
            )
            assert result.returncode == 0, result.stdout + result.stderr

    def events(self, start, days=30) -> list[str]:
        result = subprocess.run(
            [
                str(BIN / "khal"),
                "-c",
                str(self.khal_config),
                "list",
                start.strftime("%Y-%m-%d"),
                f"{days}d",
                "--format",
                "{start} -> {end} | {title} | {status}",
                "--day-format",
                "",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        # khal lists a night under both of its dates: one line per event is enough here.
        return sorted({line.strip() for line in result.stdout.splitlines() if "->" in line})


def test_retime_cancellation_and_removal_reach_the_subscriber(live_server, tmp_path):
    lead = make_person(cleared=False)
    station = make_station("LGH", name="Loughborough", leads=[lead])
    resource = make_resource(station, "DA12")
    requester = make_person(requester=True)
    now = timezone.now()
    day = now.astimezone(LONDON).date() + timedelta(days=10)
    night = make_shift(
        resource,
        datetime.combine(day, time(19), LONDON),
        datetime.combine(day + timedelta(days=1), time(7), LONDON),
        now=now,
    )
    booking = services.request_booking(actor=requester, shift_id=night.pk, purpose="Nights", now=now)
    token = services.issue_calendar_token(person=requester, now=now)
    subscriber = Subscriber(tmp_path, f"{live_server.url}/calendar/{token}.ics")

    subscriber.sync()
    lines = subscriber.events(day)
    assert lines == [
        f"{day:%Y-%m-%d} 19:00 -> {day + timedelta(days=1):%Y-%m-%d} 07:00 | "
        f"Requested: Ride-along: DA12 night shift, Loughborough | TENTATIVE"
    ]

    services.apply_shift_change(
        shift_id=night.pk,
        actor=lead,
        now=now,
        change=services.ShiftChange(
            starts_at=night.starts_at + timedelta(hours=1), ends_at=night.ends_at + timedelta(hours=1)
        ),
    )
    subscriber.sync()
    assert subscriber.events(day)[0].startswith(f"{day:%Y-%m-%d} 20:00 -> {day + timedelta(days=1):%Y-%m-%d} 08:00")

    services.cancel_booking(booking_id=booking.pk, actor=requester, now=now)
    subscriber.sync()
    assert subscriber.events(day)[0].endswith("Cancelled: Ride-along: DA12 night shift, Loughborough | CANCELLED")

    # Fifteen days later the cancelled event leaves the feed, and the subscriber drops it.
    import time_machine

    with time_machine.travel(now + timedelta(days=15), tick=True):
        # vdirsyncer guards against a feed that empties entirely; this one really did.
        subscriber.sync("--force-delete")
    assert subscriber.events(day) == []
