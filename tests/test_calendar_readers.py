"""The same feed read by independent calendar libraries: every event starts and ends when its shift does.

Events in London summer and winter, across both 2027 clock-change nights, one inside the repeated
autumn hour, one in Sydney and one in Kolkata; and a copy whose TZIDs are renamed, so that readers
must use the embedded VTIMEZONEs rather than their own zone database (SPEC §9).
"""

import uuid
import zoneinfo
from datetime import UTC, datetime

import icalendar
import pytest
import recurring_ical_events
import vobject
from icalevents import icalevents

from scheduling.calendar import EventData, build_feed

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def at(tzid, *args):
    return datetime(*args, tzinfo=zoneinfo.ZoneInfo(tzid)).astimezone(UTC)


SHIFTS = {
    "london-summer": ("Europe/London", at("Europe/London", 2027, 7, 14, 7), at("Europe/London", 2027, 7, 14, 19)),
    "london-winter": ("Europe/London", at("Europe/London", 2027, 1, 12, 19), at("Europe/London", 2027, 1, 13, 7)),
    # 11 hours: the clocks go forward at 01:00 GMT.
    "spring-night": ("Europe/London", at("Europe/London", 2027, 3, 27, 19), at("Europe/London", 2027, 3, 28, 7)),
    # 13 hours: the clocks go back at 02:00 BST.
    "autumn-night": ("Europe/London", at("Europe/London", 2027, 10, 30, 19), at("Europe/London", 2027, 10, 31, 7)),
    # Starts at the first 01:30 of 31 Oct 2027 (BST), inside the repeated hour.
    "repeated-hour": (
        "Europe/London",
        datetime(2027, 10, 31, 0, 30, tzinfo=UTC),
        datetime(2027, 10, 31, 8, 30, tzinfo=UTC),
    ),
    "sydney": ("Australia/Sydney", at("Australia/Sydney", 2027, 4, 3, 19), at("Australia/Sydney", 2027, 4, 4, 7)),
    "kolkata": ("Asia/Kolkata", at("Asia/Kolkata", 2027, 2, 2, 20), at("Asia/Kolkata", 2027, 2, 3, 8)),
}
UIDS = {name: str(uuid.uuid5(uuid.NAMESPACE_URL, name)) for name in SHIFTS}


class Owner:
    pk = 1


def feed(*, renamed: bool) -> bytes:
    items = [
        EventData(
            booking_id=i,
            uid=UIDS[name],
            revision=1,
            updated_at=NOW,
            status="approved",
            purpose="Readers",
            starts_at=starts_at,
            ends_at=ends_at,
            tzid=tzid,
            label=name,
            location="Station",
            crew_roles=("paramedic",),
        )
        for i, (name, (tzid, starts_at, ends_at)) in enumerate(SHIFTS.items(), start=1)
    ]
    body = build_feed(owner=Owner(), bookings=items, now=NOW)
    if renamed:
        # Names no zone database knows: only the calendar's own VTIMEZONEs can explain them.
        for tzid in {tzid for tzid, _, _ in SHIFTS.values()}:
            custom = "Ridealong-" + tzid.replace("/", "-")
            body = body.replace(f"TZID:{tzid}\r\n".encode(), f"TZID:{custom}\r\n".encode())
            body = body.replace(f"TZID={tzid}:".encode(), f"TZID={custom}:".encode())
        assert b"Europe/London" not in body
    return body


def utc(value: datetime) -> datetime:
    assert value.tzinfo is not None, "read as a floating time"
    return value.astimezone(UTC)


def read_icalendar(body: bytes) -> dict:
    cal = icalendar.Calendar.from_ical(body)
    return {str(e["UID"]): (utc(e.decoded("DTSTART")), utc(e.decoded("DTEND"))) for e in cal.walk("VEVENT")}


def read_vobject(body: bytes) -> dict:
    cal = vobject.readOne(body.decode())
    return {e.uid.value: (utc(e.dtstart.value), utc(e.dtend.value)) for e in cal.vevent_list}


def read_recurring_ical_events(body: bytes) -> dict:
    cal = icalendar.Calendar.from_ical(body)
    found = recurring_ical_events.of(cal).between(datetime(2027, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC))
    return {str(e["UID"]): (utc(e.decoded("DTSTART")), utc(e.decoded("DTEND"))) for e in found}


def read_icalevents(body: bytes) -> dict:
    found = icalevents.events(
        string_content=body, start=datetime(2027, 1, 1, tzinfo=UTC), end=datetime(2028, 1, 1, tzinfo=UTC)
    )
    return {e.uid: (utc(e.start), utc(e.end)) for e in found}


READERS = [read_icalendar, read_vobject, read_recurring_ical_events, read_icalevents]


@pytest.mark.parametrize("renamed", [False, True], ids=["iana-tzids", "renamed-tzids"])
@pytest.mark.parametrize("reader", READERS, ids=lambda r: r.__name__.removeprefix("read_"))
def test_every_reader_sees_every_shift_at_its_real_times(reader, renamed):
    seen = reader(feed(renamed=renamed))
    expected = {UIDS[name]: (starts_at, ends_at) for name, (_, starts_at, ends_at) in SHIFTS.items()}
    wrong = {
        name: (seen.get(UIDS[name]), expected[UIDS[name]])
        for name in SHIFTS
        if seen.get(UIDS[name]) != expected[UIDS[name]]
    }
    assert not wrong, wrong


def test_vtimezone_rules_start_in_1970():
    cal = icalendar.Calendar.from_ical(feed(renamed=False))
    for zone in cal.walk("VTIMEZONE"):
        for part in zone.subcomponents:
            assert part.decoded("DTSTART").year == 1970, (zone["TZID"], part.name)
