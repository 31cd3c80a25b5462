"""The calendar feed in one place (SPEC §9): the rows a person's feed holds, the fingerprint its ETag is
made of, the answers remembered per person (PostgreSQL) and the view that serves it.

The bytes come from the one builder, calendar.build_feed, which the single-event download uses too.
A new field that changes an event's bytes goes into `feed_for` (the rows), FINGERPRINT_COLUMNS and its
Python twin below, and, if it lives in a new table, migration 0005's triggers.
"""

import gzip
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.http import HttpResponse, HttpResponseNotModified
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import http_date, parse_etags, parse_http_date_safe
from django.views.decorators.http import require_http_methods

from .access import lead_station_ids
from .calendar import build_feed
from .models import Booking, CrewMember, Place, PlaceState

User = get_user_model()


def _digest(token: str) -> str:
    """Tokens are found by their SHA-256 digest only; the token itself is never stored."""
    from .services import token_digest

    return token_digest(token)


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


def _not_found():
    return HttpResponse("No calendar at this address.\n", status=404, content_type="text/plain; charset=utf-8")


@require_http_methods(["GET", "HEAD"])
def calendar_feed(request, token: str):
    if not token.startswith("rla_") or len(token) > 128:
        return _not_found()
    now = timezone.now()
    # Found by digest only: the token itself is never stored.
    link = feed_link(_digest(token), now)
    if link is None:
        return _not_found()
    person = None
    validator = link.validator
    if validator is None:
        person = User.objects.select_related("profile").get(pk=link.person_id)
        validator = feed_validator(person, now)
    etag, latest = validator.etag, validator.last_modified
    last_modified = http_date((latest or link.created_at).timestamp())
    headers = {
        "ETag": etag,
        "Last-Modified": last_modified,
        "Cache-Control": "private, max-age=300",
        "Referrer-Policy": "no-referrer",
        "X-Robots-Tag": "noindex",
        "Vary": "Accept-Encoding",
    }
    gzipped = _accepts_gzip(request)
    if gzipped:
        # Another representation, so another strong validator (RFC 9110 §8.8.3).
        headers["ETag"] = etag[:-1] + '-gzip"'
    if_none_match = request.headers.get("If-None-Match")
    not_modified = False
    if if_none_match is not None:
        # Compared weakly: a proxy may hand back W/"…", or the other encoding's tag (RFC 9110 §13.1.2).
        wanted = _opaque(etag)
        not_modified = any(tag == "*" or _opaque(tag) == wanted for tag in parse_etags(if_none_match))
    else:
        since = parse_http_date_safe(request.headers.get("If-Modified-Since", ""))
        not_modified = since is not None and latest is not None and int(latest.timestamp()) <= since
    if not_modified:
        response = HttpResponseNotModified()
        for key, value in headers.items():
            response[key] = value
        return response
    if person is None:
        person = User.objects.select_related("profile").get(pk=link.person_id)
    bookings = feed_for(person, now)
    body = build_feed(owner=person, bookings=list(bookings), now=now, name="Ride-alongs")
    if gzipped:
        # mtime=0: the same feed gives the same compressed bytes, as its strong ETag promises.
        body = gzip.compress(body, compresslevel=6, mtime=0)
    response = HttpResponse(b"" if request.method == "HEAD" else body, content_type="text/calendar; charset=utf-8")
    response["Content-Length"] = str(len(body))
    if gzipped:
        response["Content-Encoding"] = "gzip"
    for key, value in headers.items():
        response[key] = value
    patch_vary_headers(response, ["Accept-Encoding"])
    return response


def _opaque(tag: str) -> str:
    tag = tag.removeprefix("W/")
    return tag[:-6] + '"' if tag.endswith('-gzip"') else tag


def _accepts_gzip(request) -> bool:
    for part in request.headers.get("Accept-Encoding", "").split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() == "gzip":
            return params.replace(" ", "").lower() not in {"q=0", "q=0.0", "q=0.00", "q=0.000"}
    return False
