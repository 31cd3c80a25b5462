"""The one iCalendar builder (SPEC §9): the subscription feed and the single-event download both use it."""

import hashlib
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from urllib.parse import quote

from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext, gettext_lazy
from icalendar import Calendar, Event, Timezone, TimezoneDaylight, TimezoneStandard, vDuration, vRecur

from .models import BookingStatus, CrewRole, PlaceState

PRODID = "-//Ridealong//Ride-along scheduler//EN"
KEEP_CANCELLED = timedelta(days=14)
WHAT_TO_BRING = gettext_lazy(
    "Bring photo ID, sturdy closed shoes, warm layers and food for the shift. "
    "High-visibility clothing is provided at the station."
)
FINAL = (BookingStatus.DECLINED, BookingStatus.CANCELLED, BookingStatus.EXPIRED)


def calendar_urls(token: str) -> dict:
    """The three ways to subscribe, from SITE_URL: never from the request's Host header, which the client sets."""
    url = settings.SITE_URL.rstrip("/") + reverse("calendar-feed", args=[token])
    webcal = "webcal://" + url.split("://", 1)[1]
    return {
        "url": url,
        "webcal_url": webcal,
        "google_url": "https://calendar.google.com/calendar/render?cid=" + quote(webcal, safe=""),
    }


@dataclass(frozen=True)
class EventData:
    """What one VEVENT says, as the owner of the feed sees it."""

    booking_id: int
    uid: str
    revision: int
    updated_at: datetime
    status: str
    purpose: str
    starts_at: datetime
    ends_at: datetime
    tzid: str
    label: str
    location: str
    crew_roles: tuple[str, ...]


def status_for(booking, owner) -> str:
    """The booking's status as this owner sees it: an observer who left sees their place cancelled."""
    if booking.status in FINAL or booking.requested_by_id == owner.pk:
        return booking.status
    left = getattr(booking, "owner_left", None)
    if left is None:
        places = [p for p in booking.places.all() if p.person_id == owner.pk]
        left = bool(places) and all(p.state == PlaceState.RELEASED for p in places)
    return BookingStatus.CANCELLED if left else booking.status


def event_data(booking, owner) -> EventData:
    shift = booking.shift
    station = shift.station
    return EventData(
        booking_id=booking.pk,
        uid=str(booking.uid),
        revision=booking.revision,
        updated_at=booking.updated_at,
        status=status_for(booking, owner),
        purpose=booking.purpose,
        starts_at=shift.starts_at,
        ends_at=shift.ends_at,
        tzid=station.timezone,
        label=shift.label,
        location=station.address or station.name,
        crew_roles=tuple(sorted(c.role for c in shift.crew_members.all())),
    )


def shows_in_feed(item: EventData, now: datetime) -> bool:
    if item.status in FINAL:
        # Kept long enough for subscribed clients to catch the cancellation, then left out.
        return item.updated_at >= now - KEEP_CANCELLED
    return True


def _byday(day: date) -> str:
    weekday = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"][day.weekday()]
    next_month = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    if day + timedelta(days=7) >= next_month:
        return f"-1{weekday}"
    return f"{(day.day - 1) // 7 + 1}{weekday}"


@lru_cache(maxsize=64)
def _transitions(tzid: str, year: int) -> tuple:
    """The instants in `year` where the zone's offset changes, with the offsets either side."""
    tz = zoneinfo.ZoneInfo(tzid)
    found = []
    t = datetime(year, 1, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC)
    step = timedelta(hours=6)
    while t < end:
        a, b = t.astimezone(tz).utcoffset(), (t + step).astimezone(tz).utcoffset()
        if a != b:
            lo, hi = t, t + step
            while hi - lo > timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                if mid.astimezone(tz).utcoffset() == a:
                    lo = mid
                else:
                    hi = mid
            hi = hi.replace(second=0, microsecond=0)
            found.append((hi, a, b, (hi + timedelta(seconds=1)).astimezone(tz).tzname(), hi.astimezone(tz).dst()))
        t += step
    return tuple(found)


RULES_FROM = 1970


def _first_onset(onset: datetime, byday: str) -> datetime:
    """The same yearly rule's occurrence in 1970, so the rules cover every year a reader may compare."""
    weekday = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"].index(byday[-2:])
    nth = int(byday[:-2])
    first = date(RULES_FROM, onset.month, 1)
    if nth > 0:
        day = first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (nth - 1))
    else:
        last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        day = last - timedelta(days=(last.weekday() - weekday) % 7)
    return datetime.combine(day, onset.time())


def vtimezone(tzid: str, year: int) -> Timezone:
    """A VTIMEZONE written with yearly RRULEs and both parts, as Outlook expects.

    The rules are `year`'s, written as starting in 1970: readers such as vobject compare a zone
    over past years, and rules that start late make them read earlier years differently.
    """
    component = Timezone()
    component.add("tzid", tzid)
    transitions = _transitions(tzid, year)
    if not transitions:
        tz = zoneinfo.ZoneInfo(tzid)
        offset = datetime(year, 1, 1, tzinfo=UTC).astimezone(tz).utcoffset()
        part = TimezoneStandard()
        part.add("dtstart", datetime(1970, 1, 1, tzinfo=UTC).replace(tzinfo=None))  # floating, as RFC 5545 wants
        part.add("tzoffsetfrom", offset)
        part.add("tzoffsetto", offset)
        part.add("tzname", datetime(year, 1, 1, tzinfo=UTC).astimezone(tz).tzname())
        component.add_component(part)
        return component
    for instant, before, after, name, dst in transitions:
        part = TimezoneDaylight() if dst else TimezoneStandard()
        # The onset is written in the local time in force before the change (RFC 5545 §3.6.5).
        onset = (instant + before).replace(tzinfo=None)
        byday = _byday(onset.date())
        part.add("dtstart", _first_onset(onset, byday))
        part.add("rrule", vRecur({"FREQ": "YEARLY", "BYMONTH": onset.month, "BYDAY": byday}))
        part.add("tzoffsetfrom", before)
        part.add("tzoffsetto", after)
        part.add("tzname", name)
        component.add_component(part)
    return component


def _in_repeated_hour(value: datetime, tz) -> bool:
    local = value.astimezone(tz)
    return local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset()


def _times(starts_at: datetime, ends_at: datetime, tz) -> tuple[datetime, datetime]:
    """DTSTART and DTEND: both in UTC when either falls inside a repeated clock-change hour.

    Clients disagree about wall times in that hour, and some add the duration in wall-clock time,
    so mixing a zoned start with a UTC end moves the end too.
    """
    if _in_repeated_hour(starts_at, tz) or _in_repeated_hour(ends_at, tz):
        return starts_at.astimezone(UTC), ends_at.astimezone(UTC)
    return starts_at.astimezone(tz), ends_at.astimezone(tz)


PREFIX = {
    BookingStatus.PENDING: gettext_lazy("Requested: Ride-along: %(label)s"),
    BookingStatus.WAITLISTED: gettext_lazy("Waitlisted: Ride-along: %(label)s"),
    BookingStatus.APPROVED: gettext_lazy("Ride-along: %(label)s"),
}
ICAL_STATUS = {
    BookingStatus.PENDING: "TENTATIVE",
    BookingStatus.WAITLISTED: "TENTATIVE",
    BookingStatus.APPROVED: "CONFIRMED",
}


def booking_page(booking_id: int) -> str:
    return settings.SITE_URL + reverse("web:booking", args=[booking_id])


def build_event(item: EventData) -> Event:
    tz = zoneinfo.ZoneInfo(item.tzid)
    changed = item.updated_at.astimezone(UTC)
    url = booking_page(item.booking_id)
    crew = ", ".join(str(CrewRole(role).label) if role in CrewRole.values else role for role in item.crew_roles)
    crew = crew or gettext("to be confirmed")
    event = Event()
    event.add("uid", item.uid)
    event.add("sequence", item.revision)
    event.add("dtstamp", changed)
    event.add("last-modified", changed)
    starts_at, ends_at = _times(item.starts_at, item.ends_at, tz)
    event.add("dtstart", starts_at)
    event.add("dtend", ends_at)
    event.add(
        "summary",
        str(PREFIX.get(item.status, gettext_lazy("Cancelled: Ride-along: %(label)s"))) % {"label": item.label},
    )
    event.add("location", item.location)
    event.add(
        "description",
        "\n".join(
            [
                gettext("Purpose: %(purpose)s") % {"purpose": item.purpose},
                gettext("Crew: %(crew)s") % {"crew": crew},
                gettext("What to bring: %(what)s") % {"what": WHAT_TO_BRING},
                gettext("Booking: %(url)s") % {"url": url},
            ]
        ),
    )
    event.add("url", url)
    event.add("status", ICAL_STATUS.get(item.status, "CANCELLED"))
    event.add("transp", "OPAQUE" if item.status in ICAL_STATUS else "TRANSPARENT")
    return event


# Serialised events, remembered by their data: in this process, and in the database so that a restart
# or a deploy does not pay icalendar's serialisation again. A pure function of the data, so a
# remembered event's bytes are the ones icalendar would write now.
EVENT_FORMAT = "v1"
_remembered: dict[tuple[EventData, tuple[str, str]], bytes] = {}
REMEMBER_IN_PROCESS = 20_000


def event_key(item: EventData, site_url: str) -> str:
    return hashlib.sha256(repr((EVENT_FORMAT, site_url, translation.get_language(), item)).encode()).hexdigest()


def events_bytes(items: list[EventData], *, stored: bool) -> list[bytes]:
    """Each event's VEVENT bytes, serialised once and then remembered; `stored`: in the database too
    (at most two queries), for the subscription feed."""
    from .models import FeedEvent

    # Events are written in the reader's language: it is part of what they are remembered by.
    memo = (settings.SITE_URL, translation.get_language())
    found = {item: _remembered[(item, memo)] for item in items if (item, memo) in _remembered}
    missing = {event_key(item, settings.SITE_URL): item for item in items if item not in found}
    if missing and not stored:
        found.update((item, build_event(item).to_ical()) for item in missing.values())
    elif missing:
        for key, body in FeedEvent.objects.filter(key__in=list(missing)).values_list("key", "body"):
            found[missing.pop(key)] = bytes(body)
        made = {key: build_event(item).to_ical() for key, item in missing.items()}
        FeedEvent.objects.bulk_create(
            [FeedEvent(key=key, booking_id=missing[key].booking_id, body=body) for key, body in made.items()],
            ignore_conflicts=True,
        )
        found.update((missing[key], body) for key, body in made.items())
    for item, body in found.items():
        if (item, memo) not in _remembered:
            if len(_remembered) >= REMEMBER_IN_PROCESS:
                del _remembered[next(iter(_remembered))]  # the oldest first
            _remembered[(item, memo)] = body
    return [found[item] for item in items]


def forget_remembered_events() -> None:
    """This process's memo; the database's is FeedEvent's rows."""
    _remembered.clear()


def rules_year(items: list[EventData], now: datetime) -> int:
    """The VTIMEZONE rules start in a year no later than the first event they describe."""
    return min([now.year - 1, *(item.starts_at.year - 1 for item in items)])


def build_feed(*, owner, bookings, now: datetime, name: str = "Ride-alongs", stored: bool = False) -> bytes:
    """Serialise the owner's bookings (models or EventData); pure: the same rows give the same bytes.

    `stored`: the serialised events are also remembered in the database, to outlive this process.
    """
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("name", name)
    cal.add("x-wr-calname", name)
    # vDuration made explicit: given a bare timedelta, icalendar writes these two as text ("1:00:00").
    cal.add("refresh-interval", vDuration(timedelta(hours=1)), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vDuration(timedelta(hours=1)))
    items = [b if isinstance(b, EventData) else event_data(b, owner) for b in bookings]
    items = [item for item in items if shows_in_feed(item, now)]
    year = rules_year(items, now)
    for tzid in sorted({item.tzid for item in items}):
        cal.add_component(vtimezone(tzid, year))
    # The events follow the calendar's own components, exactly where icalendar would write them.
    head = cal.to_ical()
    end = b"END:VCALENDAR\r\n"
    return head[: -len(end)] + b"".join(events_bytes(items, stored=stored)) + end
