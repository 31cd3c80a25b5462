"""The calendar feed in one place (SPEC §9): the rows a person's feed holds, the fingerprint its ETag is
made of, the answers remembered per person (PostgreSQL) and the view that serves it.

The bytes come from the one builder, calendar.build_feed, which the single-event download uses too, and
the ETag is a digest of the very events handed to it, so the two cannot disagree. A new field that
changes an event's bytes goes into EventData and `feed_content` (the rows) and, if it lives in a new
table, into migration 0005's triggers, which tell a remembered answer that it no longer holds.
"""

import gzip
import hashlib
import zoneinfo
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpResponse
from django.utils import timezone, translation
from django.utils.cache import get_conditional_response, patch_vary_headers
from django.utils.http import http_date
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods

from .access import lead_station_ids, tried_placement
from .calendar import FINAL, KEEP_CANCELLED, EventData, build_feed, rules_year, shows_in_feed, status_for
from .languages import writing_to
from .models import (
    Booking,
    BookingStatus,
    CalendarToken,
    CrewMember,
    FeedEvent,
    FeedState,
    Place,
    PlaceState,
    shift_label,
)

User = get_user_model()
FEED_NAME = "Ride-alongs"
FEED_FORMAT = "v4"  # raise when the bytes change for the same events, so every client fetches them again
KEEP_EVENTS = timedelta(days=60)


def _digest(token: str) -> str:
    """Tokens are found by their SHA-256 digest only; the token itself is never stored."""
    from .services import token_digest

    return token_digest(token)


FEED_PAST = timedelta(days=30)
FEED_FUTURE = timedelta(days=365)


def feed_bookings(person, now: datetime, *, upcoming: bool = False) -> QuerySet[Booking]:
    """What a person's calendar feed holds (SPEC §9): requested, observed, and approved ones they host or lead."""
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
    # A placement the crew declined is never in the requester's or observers' calendar (SPEC §17).
    bookings = Booking.objects.filter(mine, shift__ends_at__gt=now - FEED_PAST).exclude(tried_placement())
    # `upcoming` keeps the ones too far ahead for the feed yet, to tell when they enter it.
    return bookings if upcoming else bookings.filter(shift__starts_at__lt=now + FEED_FUTURE)


@dataclass(frozen=True)
class FeedContent:
    """A person's feed as of `now`: its events, and the validators worked out from those same events."""

    items: tuple[EventData, ...]  # the events the feed shows, in order
    etag: str
    last_modified: datetime | None
    valid_until: datetime  # the next instant the passing of time alone changes the feed


def feed_content(person, now: datetime) -> FeedContent:
    """The feed's events as plain rows (no model instances) in two queries, and their fingerprint."""
    live_place = Place.objects.filter(booking=OuterRef("pk"), person=person).exclude(state=PlaceState.RELEASED)
    any_place = Place.objects.filter(booking=OuterRef("pk"), person=person)
    rows = list(
        feed_bookings(person, now, upcoming=True)
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
            "shift__updated_at",
            "shift__station__name",
            "shift__station__address",
            "shift__station__timezone",
            "shift__resource__call_sign",
        )
    )
    horizon = now + FEED_FUTURE
    ahead = [r["shift__starts_at"] for r in rows if r["shift__starts_at"] >= horizon]
    rows = [r for r in rows if r["shift__starts_at"] < horizon]
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
    shown = tuple(item for item in items if shows_in_feed(item, now))
    year = rules_year(list(shown), now)
    # Everything build_feed writes is a function of these: the same fingerprint, the same bytes.
    digest = hashlib.sha256(
        repr((FEED_FORMAT, settings.SITE_URL, translation.get_language(), FEED_NAME, year, shown)).encode()
    ).hexdigest()
    changes = [
        datetime(now.year + 1, 1, 1, tzinfo=UTC),  # the VTIMEZONE rules follow the year
        *(item.ends_at + FEED_PAST for item in items),  # leaving the 30-day past
        *(item.updated_at + KEEP_CANCELLED for item in shown if item.status in FINAL),  # a cancellation kept 14 days
        *(starts_at - FEED_FUTURE for starts_at in ahead),  # entering the 12-month window
    ]
    stamps = [stamp for r in rows for stamp in (r["updated_at"], r["shift__updated_at"])]
    return FeedContent(
        items=shown, etag=f'"{digest[:40]}"', last_modified=max(stamps, default=None), valid_until=min(changes)
    )


def feed_bytes(person, content: FeedContent, now: datetime) -> bytes:
    return build_feed(owner=person, bookings=list(content.items), now=now, name=FEED_NAME, stored=True)


def pack(body: bytes) -> bytes:
    # mtime=0: the same feed gives the same compressed bytes.
    return gzip.compress(body, compresslevel=6, mtime=0)


@dataclass(frozen=True)
class Answer:
    """What a feed request is answered from: the validators, and the bytes when they are at hand."""

    person_id: int
    etag: str
    last_modified: datetime | None
    body: bytes | None = None  # the plain bytes, when worked out in this request
    packed: bytes | None = None  # the gzip-compressed bytes, when remembered


def work_out(person_id: int, now: datetime) -> Answer:
    """Build the feed; on PostgreSQL, remember the answer for the requests that follow."""
    person = User.objects.select_related("profile").get(pk=person_id)
    with writing_to(person):
        if connection.vendor == "postgresql":
            content, body = remember(person, now)
        else:
            content = feed_content(person, now)
            body = feed_bytes(person, content, now)
    return Answer(person_id, content.etag, content.last_modified, body=body)


def remember(person, now: datetime) -> tuple[FeedContent, bytes]:
    """Work out the feed and remember the answer (PostgreSQL), with the snapshot it was read in.

    The snapshot is taken before the rows are read: a write the rows might have missed is then one
    the snapshot cannot see, so the answer is worked out again rather than kept too long. Nothing is
    remembered inside a transaction that has written already: its own later writes would look seen.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_snapshot()::text, pg_current_xact_id_if_assigned() IS NULL")
        snapshot, clean = cursor.fetchone()
    content = feed_content(person, now)
    body = feed_bytes(person, content, now)
    if clean:
        with connection.cursor() as cursor:
            cursor.execute(
                STORE_FEED_STATE,
                [person.pk, content.etag, content.last_modified, content.valid_until, snapshot, pack(body)],
            )
    return content, body


STORE_FEED_STATE = """
INSERT INTO scheduling_feedstate (person_id, etag, last_modified, valid_until, snapshot, body)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (person_id) DO UPDATE SET etag = EXCLUDED.etag, last_modified = EXCLUDED.last_modified,
    valid_until = EXCLUDED.valid_until, snapshot = EXCLUDED.snapshot, body = EXCLUDED.body
"""


def remembered_body(answer: Answer) -> bytes | None:
    """The gzip-compressed bytes remembered with that ETag; None if a newer answer replaced them."""
    found = FeedState.objects.filter(person_id=answer.person_id, etag=answer.etag).values_list("body", flat=True)
    body = found.first()
    return bytes(body) if body else None


# The token's person and, when still good, the answer remembered for their feed: good while time alone
# has not changed the feed and no write to it is missing from the snapshot it was computed in.
FEED_LINK_SQL = """
SELECT t.person_id, u.is_active, t.created_at, s.etag, s.last_modified,
       s.valid_until > %(now)s AND octet_length(s.body) > 0 AND NOT EXISTS (
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
    remembered: Answer | None  # still good (without its bytes); None when the feed must be worked out


def feed_link(digest: str, now: datetime) -> FeedLink | None:
    """The active person a calendar token belongs to, in one query (SPEC §9: found by digest only)."""
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
    return FeedLink(person_id, created_at, Answer(person_id, etag, last_modified) if fresh else None)


def forget_remembered_feeds() -> None:
    """Drop every remembered answer and serialised event: after erasing text, no copy of it may stay."""
    FeedState.objects.all().delete()
    FeedEvent.objects.all().delete()


def forget_old_feed_events(now: datetime) -> int:
    """Serialised events of bookings that have left every feed, and any old enough to have been replaced."""
    in_feeds = Booking.objects.filter(shift__ends_at__gt=now - FEED_PAST).values("pk")
    stale = FeedEvent.objects.filter(Q(created_at__lt=now - KEEP_EVENTS) | ~Q(booking_id__in=in_feeds))
    return stale.delete()[0]


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
    return HttpResponse(gettext("No calendar at this address.\n"), status=404, content_type="text/plain; charset=utf-8")


@require_http_methods(["GET", "HEAD"])
def calendar_feed(request, token: str):
    if not token.startswith("rla_") or len(token) > 128:
        return _not_found()
    now = timezone.now()
    # Found by digest only: the token itself is never stored.
    link = feed_link(_digest(token), now)
    if link is None:
        return _not_found()
    gzipped = _accepts_gzip(request)
    answer = link.remembered or work_out(link.person_id, now)
    response = _response(answer, link, gzipped)
    conditional = get_conditional_response(
        request, etag=response["ETag"], last_modified=_stamp(answer, link), response=response
    )
    if conditional is not response:
        return conditional  # 304 Not Modified, with the validators and caching headers
    if answer.body is None:
        packed = remembered_body(answer)
        if packed is None:  # a newer answer replaced it since the first query: work it out afresh
            answer = work_out(link.person_id, now)
            response = _response(answer, link, gzipped)
        else:
            answer = replace(answer, packed=packed)
    if gzipped:
        body = answer.packed or pack(answer.body)
        response["Content-Encoding"] = "gzip"
    else:
        body = answer.body or gzip.decompress(answer.packed)
    response["Content-Length"] = str(len(body))
    if request.method != "HEAD":
        response.content = body
    return response


def _stamp(answer: Answer, link: FeedLink) -> int:
    return int((answer.last_modified or link.created_at).timestamp())


def _response(answer: Answer, link: FeedLink, gzipped: bool) -> HttpResponse:
    response = HttpResponse(content_type="text/calendar; charset=utf-8")
    # The compressed bytes are another representation, so another strong tag (RFC 9110 §8.8.3).
    response["ETag"] = answer.etag[:-1] + '-gzip"' if gzipped else answer.etag
    response["Last-Modified"] = http_date(_stamp(answer, link))
    response["Cache-Control"] = "private, max-age=300"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    patch_vary_headers(response, ["Accept-Encoding"])
    return response


def _accepts_gzip(request) -> bool:
    for part in request.headers.get("Accept-Encoding", "").split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() == "gzip":
            return params.replace(" ", "").lower() not in {"q=0", "q=0.0", "q=0.00", "q=0.000"}
    return False
