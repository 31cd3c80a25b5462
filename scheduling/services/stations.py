"""Stations and resources: created by admins, tuned by their leads."""

from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import IntegrityError
from django.utils.translation import gettext

from ..errors import Forbidden, Invalid
from ..models import Resource, Shift, Station, is_night
from ..text import ensure_single_line
from .base import ensure_lead_or_admin, is_admin, lock_persons, record_event, write_transaction
from .bookings import promote_station

User = get_user_model()

STATION_SETTINGS = [
    "allow_shift_choice",
    "auto_place_requests",
    "name",
    "address",
    "timezone",
    "min_notice_hours",
    "max_observers_per_day",
    "crew_hosting_limit",
    "observer_limit_365d",
    "min_observer_age",
]

# Settings whose change may make room for waiting bookings.
ROOM_SETTINGS = {"max_observers_per_day", "crew_hosting_limit", "observer_limit_365d", "min_observer_age", "timezone"}


def _check_leads(lead_ids) -> list[int]:
    ids = sorted(set(lead_ids))
    found = set(User.objects.filter(pk__in=ids).values_list("pk", flat=True))
    missing = [i for i in ids if i not in found]
    if missing:
        raise Invalid(
            gettext("Unknown lead."), fields={"leads": [gettext("No person has id %(id)s.") % {"id": missing[0]}]}
        )
    return ids


def create_station(*, actor, code: str, name: str, leads=(), now: datetime, **settings) -> Station:
    if not is_admin(actor):
        raise Forbidden(gettext("Only admins create stations."))
    ensure_single_line(code=code, name=name, address=settings.get("address"))
    lead_ids = _check_leads(leads)
    try:
        with write_transaction():
            station = Station.objects.create(
                code=code, name=name, **{k: v for k, v in settings.items() if k in STATION_SETTINGS}
            )
            station.leads.set(lead_ids)
            record_event(booking=None, station=station, actor=actor, action="station_created", now=now)
    except IntegrityError as error:
        raise Invalid(
            gettext("A station with that code exists."), fields={"code": [gettext("Already in use.")]}
        ) from error
    return station


def update_station(*, actor, station_id: int, now: datetime, **changes) -> Station:
    ensure_lead_or_admin(actor, station_id)
    if ("code" in changes or "leads" in changes) and not is_admin(actor):
        raise Forbidden(gettext("Only admins change a station's code or leads."))
    ensure_single_line(**{k: v for k, v in changes.items() if k in ("code", "name", "address")})
    lead_ids = _check_leads(changes["leads"]) if "leads" in changes else None
    try:
        with write_transaction():
            station = Station.objects.select_for_update().get(pk=station_id)
            fields = [k for k in [*STATION_SETTINGS, "code"] if k in changes]
            # Each setting's old and new value goes in the history: a setting stepped to probe who is how
            # old (observer_too_young) or cleared is there for admins to see (SPEC §13).
            changed = [
                f"{key}: {getattr(station, key)} → {changes[key]}"
                for key in fields
                if getattr(station, key) != changes[key]
            ]
            for key in fields:
                setattr(station, key, changes[key])
            station.save(update_fields=fields or None)
            if "timezone" in fields:
                _redate_shifts(station)
            if set(fields) & ROOM_SETTINGS:
                # A cap raised or a limit eased may let waiting bookings in (SPEC §5 Waitlist).
                promote_station(station, now=now)
            if lead_ids is not None:
                lock_persons(lead_ids)
                station.leads.set(lead_ids)
            record_event(
                booking=None,
                station=station,
                actor=actor,
                action="station_changed",
                now=now,
                note="; ".join([*changed, *(["leads"] if lead_ids is not None else [])]),
            )
    except IntegrityError as error:
        raise Invalid(
            gettext("A station with that code exists."), fields={"code": [gettext("Already in use.")]}
        ) from error
    return station


def _redate_shifts(station: Station) -> None:
    """A shift's local date and night are read in its station's zone, so a new zone can move them."""
    shifts = list(Shift.objects.filter(station=station).only("pk", "starts_at", "ends_at", "local_date", "is_night"))
    for shift in shifts:
        shift.local_date = shift.starts_at.astimezone(station.tz).date()
        shift.is_night = is_night(shift.starts_at, shift.ends_at, station.tz)
    Shift.objects.bulk_update(shifts, ["local_date", "is_night"], batch_size=500)


def create_resource(
    *, actor, station_id: int, call_sign: str, kind: str = "ambulance", observer_seats: int = 1, now: datetime
) -> Resource:
    if not Station.objects.filter(pk=station_id).exists():
        raise Invalid(gettext("Unknown station."), fields={"station": [gettext("No station has that id.")]})
    ensure_lead_or_admin(actor, station_id)
    ensure_single_line(call_sign=call_sign)
    try:
        with write_transaction():
            return Resource.objects.create(
                station_id=station_id, call_sign=call_sign, kind=kind, observer_seats=observer_seats
            )
    except IntegrityError as error:
        raise Invalid(
            gettext("That call sign is taken."), fields={"call_sign": [gettext("Already used at this station.")]}
        ) from error


def update_resource(*, actor, resource: Resource, now: datetime, **changes) -> Resource:
    ensure_lead_or_admin(actor, resource.station_id)
    if "station_id" in changes and changes["station_id"] != resource.station_id:
        raise Invalid(
            gettext("A resource stays at its station."), fields={"station": [gettext("Cannot move a resource.")]}
        )
    fields = [k for k in ("call_sign", "kind", "observer_seats") if k in changes]
    ensure_single_line(**{k: changes[k] for k in fields if k == "call_sign"})
    try:
        with write_transaction():
            for key in fields:
                setattr(resource, key, changes[key])
            resource.save(update_fields=fields or None)
    except IntegrityError as error:
        raise Invalid(
            gettext("That call sign is taken."), fields={"call_sign": [gettext("Already used at this station.")]}
        ) from error
    return resource
