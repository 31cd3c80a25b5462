"""Builders for test state; they go through the services wherever a user would."""

import itertools
import zoneinfo
from datetime import date, datetime

from scheduling import services
from scheduling.models import Resource, Station

LONDON = zoneinfo.ZoneInfo("Europe/London")
_seq = itertools.count(1)


def local(y, m, d, h=0, minute=0, tz=LONDON) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=tz)


def make_person(
    username=None,
    *,
    requester=False,
    cleared=True,
    preference="ask",
    dob=None,
    staff=False,
    email=None,
    name=None,
    clear_from=date(2020, 1, 1),
    clear_until=None,
):
    n = next(_seq)
    username = username or f"person{n}"
    person = services.create_person(
        username=username,
        password="pw-" + username + "-battery-horse-staple",
        name=name or username.title(),
        email=email if email is not None else f"{username}@trust.example",
        staff_number=f"S{n:05d}",
        date_of_birth=dob,
        is_requester=requester,
        consent_preference=preference,
        is_staff=staff,
    )
    if cleared:
        for kind in ("dbs", "confidentiality", "briefing"):
            person.clearances.create(kind=kind, valid_from=clear_from, valid_until=clear_until)
    return person


def make_station(code=None, *, leads=(), **settings) -> Station:
    n = next(_seq)
    code = code or f"ST{n}"
    station = Station.objects.create(
        code=code,
        name=settings.pop("name", f"Station {code}"),
        address=settings.pop("address", f"{n} High Street"),
        **settings,
    )
    station.leads.set(leads)
    return station


def make_resource(station, call_sign=None, seats=2, kind="ambulance") -> Resource:
    return Resource.objects.create(
        station=station, call_sign=call_sign or f"DA{next(_seq)}", kind=kind, observer_seats=seats
    )


def make_shift(resource, starts_at, ends_at, *, crew=(), seats=None, ref=None, now=None):
    return services.create_shift(
        actor=None,
        resource_id=resource.pk,
        starts_at=starts_at,
        ends_at=ends_at,
        observer_seats=seats,
        external_ref=ref,
        crew=[(p.pk, role) for p, role in crew],
        now=now,
    )
