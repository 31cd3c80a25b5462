"""Reads that more than one caller needs, each scoped to what a person may see (SPEC §1)."""

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from django.db import connection
from django.db.models import DateTimeField, Exists, ExpressionWrapper, F, OuterRef, Prefetch, Q, QuerySet, Value

from .access import lead_station_ids
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


def shifts_to_find(qs: QuerySet[Shift], now: datetime) -> QuerySet[Shift]:
    """Upcoming shifts a person could ask to observe, full or closed ones included so the page can say why.

    Shifts with a crew member who never hosts are left out without a reason (SPEC §4).
    """
    never = CrewMember.objects.filter(shift=OuterRef("pk"), person__profile__consent_preference=ConsentPreference.NEVER)
    return qs.filter(starts_at__gt=now, status=ShiftStatus.SCHEDULED, observer_seats__gt=0).exclude(Exists(never))


def why_closed(shift: Shift, now: datetime) -> str:
    """Why a listed shift takes no new request now ("" when it does); the same rules as §5.2's."""
    station = shift.station
    if station.suspended_until is not None and shift.starts_at < station.suspended_until:
        until = station.suspended_until.astimezone(station.tz)
        return f"Observations at {station.name} are suspended until {until:%-d %b %Y}"
    if shift.starts_at - now < timedelta(hours=station.min_notice_hours):
        return f"Closed: {station.name} needs {station.min_notice_hours} hours' notice"
    return ""


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


FEED_PAST = timedelta(days=30)
FEED_FUTURE = timedelta(days=365)


def feed_bookings(person, now: datetime, *, upcoming: bool = False) -> QuerySet[Booking]:
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
    bookings = Booking.objects.filter(mine, shift__ends_at__gt=now - FEED_PAST)
    # `upcoming` keeps the ones too far ahead for the feed yet, to tell when they enter it.
    return bookings if upcoming else bookings.filter(shift__starts_at__lt=now + FEED_FUTURE)


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
    "f_req": "requested_by_id",
    "f_shift": "shift_id",
    "f_starts": "shift__starts_at",
    "f_ends": "shift__ends_at",
    "f_shift_upd": "shift__updated_at",
    "f_name": "shift__station__name",
    "f_address": "shift__station__address",
    "f_tz": "shift__station__timezone",
    "f_call_sign": "shift__resource__call_sign",
}

# One row per feed, computed in PostgreSQL in one snapshot: a digest of every column the bytes depend
# on, the latest change, the next instant the passing of time alone changes the feed (a booking
# leaving the 30-day past, a cancelled one leaving after 14 days, one entering the 12-month window),
# and the snapshot itself, so a cached answer can be checked against later writes.
FINGERPRINT_SQL = """
SELECT md5(coalesce(string_agg(concat_ws('|', f_id, f_rev, f_upd, f_status, f_starts, f_ends, f_shift_upd,
                                         f_name, f_address, f_tz, f_call_sign, f_final, f_roles,
                                         f_final AND f_upd < %(keep)s),
                               ',' ORDER BY f_id) FILTER (WHERE f_starts < %(future)s), '')),
       max(greatest(f_upd, f_shift_upd)) FILTER (WHERE f_starts < %(future)s),
       least(min(f_ends) FILTER (WHERE f_starts < %(future)s) + %(past)s,
             min(f_upd) FILTER (WHERE f_starts < %(future)s AND f_final AND f_upd >= %(keep)s) + %(kept)s,
             min(f_starts) FILTER (WHERE f_starts >= %(future)s) - %(ahead)s),
       pg_current_snapshot()::text
FROM (SELECT with_places.*,
             f_status IN ('declined', 'cancelled', 'expired')
             OR (f_req <> %(person)s AND coalesce(f_left, false)) AS f_final
      FROM (SELECT inner_rows.*,
                   (SELECT string_agg(c.role, ',' ORDER BY c.role) FROM scheduling_crewmember c
                    WHERE c.shift_id = inner_rows.f_shift) AS f_roles,
                   (SELECT bool_and(p.state = 'released') FROM scheduling_place p
                    WHERE p.booking_id = inner_rows.f_id AND p.person_id = %(person)s) AS f_left
            FROM ({inner}) AS inner_rows) AS with_places) AS feed
"""


@dataclass(frozen=True)
class FeedValidator:
    """What a feed's conditional requests are answered from (SPEC §9)."""

    etag: str
    last_modified: datetime | None


def _etag(digest: str, now: datetime) -> str:
    # The VTIMEZONE rules start from last year, so the bytes also change with the year.
    return f'"{digest[:40]}-{now.year}"'


def feed_validator(person, now: datetime) -> FeedValidator:
    """Work out the feed's ETag and Last-Modified without building it; on PostgreSQL, remember them."""
    import hashlib

    from .calendar import KEEP_CANCELLED

    keep_from = now - KEEP_CANCELLED
    rows = (
        feed_bookings(person, now, upcoming=connection.vendor == "postgresql")
        .order_by()
        .annotate(**{alias: F(field) for alias, field in FINGERPRINT_COLUMNS.items()})
        .values(*FINGERPRINT_COLUMNS)
    )
    if connection.vendor != "postgresql":
        return _feed_validator_in_python(person, rows, keep_from, now)
    inner, params = rows.query.sql_with_params()
    # The inner query's own %s placeholders become named ones, so both kinds can share one statement.
    named = {f"p{i}": value for i, value in enumerate(params)}
    inner = inner.replace("%%", "%%%%") % tuple(f"%({name})s" for name in named)
    values = {
        **named,
        "keep": keep_from,
        "future": now + FEED_FUTURE,
        "past": FEED_PAST,
        "kept": KEEP_CANCELLED,
        "ahead": FEED_FUTURE,
        "person": person.pk,
    }
    with connection.cursor() as cursor:
        cursor.execute(FINGERPRINT_SQL.format(inner=inner), values)
        digest, latest, changes_at, snapshot = cursor.fetchone()
    next_year = datetime(now.year + 1, 1, 1, tzinfo=UTC)
    valid_until = min(changes_at, next_year) if changes_at is not None else next_year
    validator = FeedValidator(
        etag=_etag(hashlib.sha256(f"v3:{person.pk}:{digest}".encode()).hexdigest(), now), last_modified=latest
    )
    with connection.cursor() as cursor:
        cursor.execute(STORE_FEED_STATE, [person.pk, validator.etag, latest, valid_until, snapshot])
    return validator


STORE_FEED_STATE = """
INSERT INTO scheduling_feedstate (person_id, etag, last_modified, valid_until, snapshot) VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (person_id) DO UPDATE SET etag = EXCLUDED.etag, last_modified = EXCLUDED.last_modified,
    valid_until = EXCLUDED.valid_until, snapshot = EXCLUDED.snapshot
"""


def _feed_validator_in_python(person, rows, keep_from: datetime, now: datetime) -> FeedValidator:
    import hashlib

    from .calendar import FINAL

    rows = sorted(rows, key=lambda r: r["f_id"])
    roles: dict[int, list[str]] = {}
    for shift_id, role in CrewMember.objects.filter(shift_id__in={r["f_shift"] for r in rows}).values_list(
        "shift_id", "role"
    ):
        roles.setdefault(shift_id, []).append(role)
    states: dict[int, set[str]] = {}
    for booking_id, state in Place.objects.filter(booking_id__in=[r["f_id"] for r in rows], person=person).values_list(
        "booking_id", "state"
    ):
        states.setdefault(booking_id, set()).add(state)
    digest = hashlib.sha256(f"v3:{person.pk}".encode())
    latest = None
    for row in rows:
        left = states.get(row["f_id"]) == {PlaceState.RELEASED}
        final = row["f_status"] in FINAL or (row["f_req"] != person.pk and left)
        extra = (sorted(roles.get(row["f_shift"], [])), final, final and row["f_upd"] < keep_from)
        digest.update(repr((sorted(row.items()), extra)).encode())
        for stamp in (row["f_upd"], row["f_shift_upd"]):
            if latest is None or stamp > latest:
                latest = stamp
    return FeedValidator(etag=_etag(digest.hexdigest(), now), last_modified=latest)


# The token's person and, when still good, the answer remembered for their feed: good while time alone
# has not changed the feed and no write to it is missing from the snapshot it was computed in.
FEED_LINK_SQL = """
SELECT t.person_id, u.is_active, t.created_at, s.etag, s.last_modified,
       s.valid_until > %(now)s AND NOT EXISTS (
           SELECT 1 FROM scheduling_feedchange c
           WHERE c.person_id = t.person_id AND NOT pg_visible_in_snapshot(c.xid::xid8, s.snapshot::pg_snapshot))
FROM scheduling_calendartoken t
JOIN auth_user u ON u.id = t.person_id
LEFT JOIN scheduling_feedstate s ON s.person_id = t.person_id
WHERE t.digest = %(digest)s
"""


@dataclass(frozen=True)
class FeedLink:
    person_id: int
    created_at: datetime
    validator: FeedValidator | None  # remembered and still good; None when it must be worked out


def feed_link(digest: str, now: datetime) -> FeedLink | None:
    """The active person a calendar token belongs to, in one query (SPEC §9: found by digest only)."""
    from .models import CalendarToken

    if connection.vendor != "postgresql":
        found = (
            CalendarToken.objects.filter(digest=digest, person__is_active=True)
            .values_list("person_id", "created_at")
            .first()
        )
        return FeedLink(found[0], found[1], None) if found else None
    with connection.cursor() as cursor:
        cursor.execute(FEED_LINK_SQL, {"now": now, "digest": digest})
        found = cursor.fetchone()
    if found is None or not found[1]:
        return None
    person_id, _, created_at, etag, last_modified, fresh = found
    return FeedLink(person_id, created_at, FeedValidator(etag, last_modified) if fresh else None)


def forget_absorbed_feed_changes() -> int:
    """Drop change notes every remembered feed answer has already seen, or that no answer needs.

    Only notes older than an hour: by then their transactions have long committed, so any answer
    remembered later was computed in a snapshot that sees them.
    """
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            """DELETE FROM scheduling_feedchange c WHERE c.at < now() - interval '1 hour' AND NOT EXISTS (
                   SELECT 1 FROM scheduling_feedstate s WHERE s.person_id = c.person_id
                   AND NOT pg_visible_in_snapshot(c.xid::xid8, s.snapshot::pg_snapshot))"""
        )
        return cursor.rowcount


LOOKUP_LIMIT = 10


def people_matching(text: str) -> list:
    """Active people whose name or username contains `text`, best matches first, at most ten."""
    from django.contrib.auth import get_user_model

    text = text.strip()
    found = (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(Q(username__icontains=text) | Q(profile__name__icontains=text))
        .select_related("profile")
        .order_by("profile__name", "username", "pk")
    )
    return list(found[:LOOKUP_LIMIT])


def learning_log(person, now: datetime) -> list[Booking]:
    """One's past ride-alongs, newest first, with what the log shows prefetched (SPEC §14)."""
    from .models import BookingStatus, Feedback, FollowUp, Reflection

    return list(
        Booking.objects.filter(
            status=BookingStatus.APPROVED,
            places__person=person,
            places__state=PlaceState.HELD,
            shift__ends_at__lte=now,
        )
        .distinct()
        .select_related("shift__station", "shift__resource")
        .prefetch_related(
            Prefetch("reflections", queryset=Reflection.objects.select_related("author__profile").order_by("id")),
            Prefetch("actions", queryset=FollowUp.objects.order_by("due_on", "id")),
            Prefetch("feedback", queryset=Feedback.objects.select_related("author__profile").order_by("id")),
        )
        .order_by("-shift__starts_at", "-id")
    )
