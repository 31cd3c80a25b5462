"""Reads that more than one caller needs, each scoped to what a person may see (SPEC §1)."""

import zoneinfo
from datetime import datetime, timedelta
from types import SimpleNamespace

from django.db import connection
from django.db.models import DateTimeField, Exists, ExpressionWrapper, F, OuterRef, Prefetch, Q, QuerySet, Value

from .errors import NotFound
from .models import (
    Booking,
    ConsentPreference,
    CrewMember,
    Place,
    PlaceState,
    Shift,
    ShiftStatus,
    Station,
)
from .services.base import is_admin, lead_station_ids

MAX_SHIFT = timedelta(hours=24)


def shifts_for_listing() -> QuerySet[Shift]:
    return Shift.objects.select_related("station", "resource").prefetch_related(
        Prefetch("crew_members", queryset=CrewMember.objects.order_by("id"))
    )


def shifts_overlapping(qs: QuerySet[Shift], start: datetime | None, end: datetime | None) -> QuerySet[Shift]:
    if end is not None:
        qs = qs.filter(starts_at__lt=end)
    if start is not None:
        # A shift lasts at most 24 hours, so the start bound lets the starts_at index do the work.
        qs = qs.filter(ends_at__gt=start, starts_at__gt=start - MAX_SHIFT)
    return qs


def shifts_open_now(qs: QuerySet[Shift], now: datetime) -> QuerySet[Shift]:
    """Open to a new request now, with at least one free seat."""
    earliest = ExpressionWrapper(
        Value(now) + F("station__min_notice_hours") * Value(timedelta(hours=1)), output_field=DateTimeField()
    )
    notice = Q(starts_at__gte=earliest)
    if connection.vendor != "postgresql":
        # SQLite cannot multiply a duration by a column: one condition per station instead.
        notice = Q(pk__in=[])
        for station_id, hours in Station.objects.values_list("pk", "min_notice_hours"):
            notice |= Q(station_id=station_id, starts_at__gte=now + timedelta(hours=hours))
    never = CrewMember.objects.filter(shift=OuterRef("pk"), person__profile__consent_preference=ConsentPreference.NEVER)
    return (
        qs.filter(notice, starts_at__gt=now, status=ShiftStatus.SCHEDULED, observer_seats__gt=0)
        .filter(Q(station__suspended_until__isnull=True) | Q(starts_at__gte=F("station__suspended_until")))
        .exclude(Exists(never))
        .filter(held_seats__lt=F("observer_seats"))
    )


def bookings_visible_to(person) -> QuerySet[Booking]:
    qs = Booking.objects.all()
    if is_admin(person):
        return qs
    return qs.filter(
        Q(requested_by=person)
        | Exists(Place.objects.filter(booking=OuterRef("pk"), person=person))
        | Exists(CrewMember.objects.filter(shift=OuterRef("shift_id"), person=person))
        | Q(shift__station_id__in=lead_station_ids(person))
    )


def bookings_for_listing(person) -> QuerySet[Booking]:
    return (
        bookings_visible_to(person)
        .select_related("shift__station", "shift__resource")
        .prefetch_related(Prefetch("places", queryset=Place.objects.order_by("id")), "consents")
    )


def booking_for(person, booking_id) -> Booking:
    """The booking if the person may see it; otherwise 404, so that its existence does not leak."""
    try:
        booking_id = int(booking_id)
    except (TypeError, ValueError):
        raise NotFound("No booking with that id.") from None
    booking = bookings_for_listing(person).filter(pk=booking_id).first()
    if booking is None:
        raise NotFound("No booking with that id.")
    return booking


def sees_crew_names(person, shift: Shift, crew_ids: set[int] | None = None) -> bool:
    if is_admin(person) or shift.station_id in lead_station_ids(person):
        return True
    if crew_ids is None:
        crew_ids = {c.person_id for c in shift.crew_members.all()}
    return person.pk in crew_ids


def sees_private(person, station_id: int) -> bool:
    """Who declined, and the consents: leads of the station and admins only (SPEC §4)."""
    return is_admin(person) or station_id in lead_station_ids(person)


FEED_PAST = timedelta(days=30)
FEED_FUTURE = timedelta(days=365)


def feed_bookings(person, now: datetime) -> QuerySet[Booking]:
    """What a person's calendar feed holds (SPEC §9): requested, observed, and approved ones they host or lead."""
    from .models import BookingStatus

    leads = lead_station_ids(person)
    mine = (
        Q(requested_by=person)
        | Exists(Place.objects.filter(booking=OuterRef("pk"), person=person))
        | Q(status=BookingStatus.APPROVED, shift__station_id__in=leads)
        | (
            Q(status=BookingStatus.APPROVED)
            & Exists(CrewMember.objects.filter(shift=OuterRef("shift_id"), person=person))
        )
    )
    return Booking.objects.filter(mine, shift__ends_at__gt=now - FEED_PAST, shift__starts_at__lt=now + FEED_FUTURE)


def feed_for(person, now: datetime) -> list:
    """The feed's events as plain rows (no model instances), in a constant number of queries."""
    from .calendar import EventData, status_for
    from .models import shift_label

    live_place = Place.objects.filter(booking=OuterRef("pk"), person=person).exclude(state=PlaceState.RELEASED)
    any_place = Place.objects.filter(booking=OuterRef("pk"), person=person)
    rows = list(
        feed_bookings(person, now)
        .annotate(owner_left=Exists(any_place) & ~Exists(live_place))
        .order_by("shift__starts_at", "pk")
        .values(
            "pk",
            "uid",
            "revision",
            "status",
            "purpose",
            "requested_by_id",
            "updated_at",
            "owner_left",
            "shift_id",
            "shift__starts_at",
            "shift__ends_at",
            "shift__station__name",
            "shift__station__address",
            "shift__station__timezone",
            "shift__resource__call_sign",
        )
    )
    roles: dict[int, list[str]] = {}
    for shift_id, role in CrewMember.objects.filter(shift_id__in={r["shift_id"] for r in rows}).values_list(
        "shift_id", "role"
    ):
        roles.setdefault(shift_id, []).append(role)
    zones: dict[str, zoneinfo.ZoneInfo] = {}
    items = []
    for r in rows:
        tzid = r["shift__station__timezone"]
        tz = zones.setdefault(tzid, zoneinfo.ZoneInfo(tzid))
        view = SimpleNamespace(status=r["status"], requested_by_id=r["requested_by_id"], owner_left=r["owner_left"])
        items.append(
            EventData(
                booking_id=r["pk"],
                uid=str(r["uid"]),
                revision=r["revision"],
                updated_at=r["updated_at"],
                status=status_for(view, person),
                purpose=r["purpose"],
                starts_at=r["shift__starts_at"],
                ends_at=r["shift__ends_at"],
                tzid=tzid,
                label=shift_label(
                    r["shift__resource__call_sign"],
                    r["shift__station__name"],
                    r["shift__starts_at"],
                    r["shift__ends_at"],
                    tz,
                ),
                location=r["shift__station__address"] or r["shift__station__name"],
                crew_roles=tuple(sorted(roles.get(r["shift_id"], []))),
            )
        )
    return items


FINGERPRINT_COLUMNS = {
    "f_id": "pk",
    "f_rev": "revision",
    "f_upd": "updated_at",
    "f_status": "status",
    "f_shift_upd": "shift__updated_at",
    "f_name": "shift__station__name",
    "f_address": "shift__station__address",
    "f_tz": "shift__station__timezone",
    "f_call_sign": "shift__resource__call_sign",
}

# One row per feed: a digest of every column the bytes depend on, computed in PostgreSQL.
FINGERPRINT_SQL = """
SELECT md5(coalesce(string_agg(concat_ws('|', f_id, f_rev, f_upd, f_status, f_shift_upd, f_name, f_address, f_tz,
                                         f_call_sign, (f_status IN ('declined', 'cancelled', 'expired')
                                                       AND f_upd < %s)), ',' ORDER BY f_id), '')),
       max(greatest(f_upd, f_shift_upd))
FROM ({inner}) AS feed
"""


def feed_fingerprint(person, now: datetime) -> tuple[str, datetime | None]:
    """A cheap digest of everything the feed's bytes depend on, for ETag checks without building it."""
    import hashlib

    keep_from = now - timedelta(days=14)  # a final booking leaves the feed 14 days after it changed
    rows = (
        feed_bookings(person, now)
        .order_by()
        .annotate(**{alias: F(field) for alias, field in FINGERPRINT_COLUMNS.items()})
        .values(*FINGERPRINT_COLUMNS)
    )
    if connection.vendor == "postgresql":
        inner, params = rows.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(FINGERPRINT_SQL.format(inner=inner), [keep_from, *params])
            digest, latest = cursor.fetchone()
        return hashlib.sha256(f"v1:{person.pk}:{digest}".encode()).hexdigest(), latest
    digest = hashlib.sha256(f"v1:{person.pk}".encode())
    latest = None
    for row in sorted(rows, key=lambda r: r["f_id"]):
        final = row["f_status"] in ("declined", "cancelled", "expired")
        digest.update(repr((sorted(row.items()), final and row["f_upd"] < keep_from)).encode())
        for stamp in (row["f_upd"], row["f_shift_upd"]):
            if latest is None or stamp > latest:
                latest = stamp
    return digest.hexdigest(), latest
