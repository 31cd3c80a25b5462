"""The calendar feed (SPEC §9): bytes, meaning, clock changes, privacy, caching and query counts."""

import hashlib
import logging
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
import vobject
from icalendar import Calendar

from scheduling import services
from scheduling.calendar import build_feed
from scheduling.models import Booking, FeedState
from tests.factories import local, make_person, make_resource, make_shift, make_station

NOW = datetime(2026, 10, 1, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def feed_path(person):
    token = services.issue_calendar_token(person=person, now=NOW)
    return f"/calendar/{token}.ics", token


def fetch(client, path, **headers):
    return client.get(path, **headers)


def parse_events(body: bytes) -> dict:
    cal = Calendar.from_ical(body)
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


def book(person, shift, observers=None, at=NOW):
    return services.request_booking(
        actor=person,
        shift_id=shift.pk,
        purpose="Learn about nights",
        observer_ids=None if observers is None else [o.pk for o in observers],
        now=at,
    )


def test_feed_bytes_follow_rfc_5545_and_what_outlook_needs(client, requester, resource, now):
    station = resource.station
    station.name = "Ysbyty Gwynedd — Gorsaf Ambiwlans Llanfairpwllgwyngyll ✚ Ambulance Station North Wales"
    station.save()
    shift = make_shift(resource, local(2026, 10, 10, 19), local(2026, 10, 11, 7), now=NOW)
    book(requester, shift)
    path, _ = feed_path(requester)
    response = fetch(client, path)
    body = response.content
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert b"\n" not in body.replace(b"\r\n", b"")
    assert all(len(line) <= 75 for line in body.split(b"\r\n"))
    cal = Calendar.from_ical(body)
    assert "UID" not in cal and "METHOD" not in cal and "X-WR-TIMEZONE" not in cal
    assert str(cal["VERSION"]) == "2.0" and str(cal["CALSCALE"]) == "GREGORIAN" and cal["PRODID"]
    assert cal["NAME"] and cal["X-WR-CALNAME"]
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n" in body and b"X-PUBLISHED-TTL:PT1H\r\n" in body
    assert cal.get_missing_tzids() == set()
    tz = cal.walk("VTIMEZONE")[0]
    assert {c.name for c in tz.subcomponents} == {"STANDARD", "DAYLIGHT"}
    assert all("RRULE" in c for c in tz.subcomponents)
    event = cal.walk("VEVENT")[0]
    assert str(event["SUMMARY"]).startswith("Requested: Ride-along: DA12 night shift, Ysbyty")
    assert str(event["STATUS"]) == "TENTATIVE"
    assert event["DTSTART"].params["TZID"] == "Europe/London"
    for component in cal.walk():
        assert not component.errors


def test_each_state_has_its_status_prefix_and_transparency(requester, mentor, paramedic, lead, night):
    pending = book(requester, night)
    events = parse_events(build_feed(owner=requester, bookings=[pending], now=NOW))
    event = events[str(pending.uid)]
    assert (str(event["STATUS"]), str(event["TRANSP"])) == ("TENTATIVE", "OPAQUE")
    services.give_consent(booking_id=pending.pk, actor=paramedic, now=NOW)
    approved = services.approve_booking(booking_id=pending.pk, actor=lead, now=NOW)
    event = parse_events(build_feed(owner=requester, bookings=[approved], now=NOW))[str(approved.uid)]
    assert str(event["STATUS"]) == "CONFIRMED" and str(event["SUMMARY"]).startswith("Ride-along: ")
    cancelled = services.cancel_booking(booking_id=approved.pk, actor=requester, now=NOW)
    cancelled = Booking.objects.get(pk=cancelled.pk)
    event = parse_events(build_feed(owner=requester, bookings=[cancelled], now=NOW))[str(cancelled.uid)]
    assert (str(event["STATUS"]), str(event["TRANSP"])) == ("CANCELLED", "TRANSPARENT")
    assert str(event["SUMMARY"]).startswith("Cancelled: ")


def test_cancelled_bookings_stay_fourteen_days_then_leave(client, requester, night, frozen):
    booking = book(requester, night)
    services.cancel_booking(booking_id=booking.pk, actor=requester, now=NOW)
    path, _ = feed_path(requester)
    frozen.move_to(NOW + timedelta(days=13, hours=23))
    assert str(booking.uid).encode() in fetch(client, path).content
    frozen.move_to(NOW + timedelta(days=14, hours=1))
    assert str(booking.uid).encode() not in fetch(client, path).content


def test_window_is_thirty_days_back_to_twelve_months_ahead(client, requester, resource, frozen):
    old = make_shift(resource, local(2026, 8, 20, 7), local(2026, 8, 20, 19), now=NOW)
    recent = make_shift(resource, local(2026, 9, 10, 7), local(2026, 9, 10, 19), now=NOW)
    far = make_shift(resource, local(2027, 10, 20, 7), local(2027, 10, 20, 19), now=NOW)
    booked = [book(requester, s, at=datetime(2026, 8, 1, tzinfo=UTC)) for s in (old, recent, far)]
    body = fetch(client, feed_path(requester)[0]).content
    assert [str(b.uid).encode() in body for b in booked] == [False, True, False]


def test_uid_is_stable_and_sequence_rises_with_each_change(requester, lead, paramedic, night):
    booking = book(requester, night)
    seen = []
    steps = [
        lambda: services.give_consent(booking_id=booking.pk, actor=paramedic, now=NOW),
        lambda: services.approve_booking(booking_id=booking.pk, actor=lead, now=NOW),
        lambda: services.apply_shift_change(
            shift_id=night.pk,
            actor=lead,
            now=NOW,
            change=services.ShiftChange(
                starts_at=night.starts_at + timedelta(hours=1), ends_at=night.ends_at + timedelta(hours=1)
            ),
        ),
        lambda: services.cancel_booking(booking_id=booking.pk, actor=requester, now=NOW),
    ]
    for step in [lambda: None, *steps]:
        step()
        current = Booking.objects.select_related("shift__station").get(pk=booking.pk)
        event = list(parse_events(build_feed(owner=requester, bookings=[current], now=NOW)).values())[0]
        seen.append((str(event["UID"]), int(event["SEQUENCE"]), str(event["STATUS"])))
    assert {uid for uid, _, _ in seen} == {str(booking.uid)}
    sequences = [seq for _, seq, _ in seen]
    assert sequences == sorted(sequences)
    assert sequences[2] > sequences[1]  # approval
    assert sequences[3] > sequences[2]  # retime
    assert sequences[4] > sequences[3]  # cancellation


def test_dtstamp_is_utc_and_an_unchanged_feed_is_byte_identical(client, requester, night, frozen):
    book(requester, night)
    path, _ = feed_path(requester)
    first = fetch(client, path)
    frozen.move_to(NOW + timedelta(minutes=7))
    second = fetch(client, path)
    assert first.content == second.content
    assert first["ETag"] == second["ETag"]
    event = Calendar.from_ical(first.content).walk("VEVENT")[0]
    assert event.decoded("DTSTAMP").utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        (local(2025, 10, 25, 19), local(2025, 10, 26, 7), 13),
        (local(2026, 3, 28, 19), local(2026, 3, 29, 7), 11),
    ],
)
def test_clock_change_nights_parse_back_to_exact_instants(resource, start, end, hours):
    requester = make_person(requester=True)
    before = datetime(2025, 9, 1, tzinfo=UTC)
    shift = make_shift(resource, start, end, now=before)
    booking = book(requester, shift, at=before)
    body = build_feed(owner=requester, bookings=[booking], now=before)
    event = Calendar.from_ical(body).walk("VEVENT")[0]
    assert event.decoded("DTSTART").astimezone(UTC) == start.astimezone(UTC)
    # Subtract in UTC: Python ignores offsets between datetimes sharing one tzinfo.
    assert event.decoded("DTEND").astimezone(UTC) - event.decoded("DTSTART").astimezone(UTC) == timedelta(hours=hours)
    parsed = vobject.readOne(body.decode())
    vevent = parsed.vevent
    assert vevent.dtstart.value.astimezone(UTC) == start.astimezone(UTC)
    assert vevent.dtend.value.astimezone(UTC) == end.astimezone(UTC)
    assert vevent.status.value == "TENTATIVE"


def test_time_inside_the_repeated_hour_is_written_in_utc(resource):
    requester = make_person(requester=True)
    start = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 01:30 BST, the first of two 01:30s
    shift = make_shift(resource, start, start + timedelta(hours=8), now=NOW)
    booking = book(requester, shift)
    body = build_feed(owner=requester, bookings=[booking], now=NOW)
    assert b"DTSTART:20261025T003000Z\r\n" in body
    # Both ends in UTC: a zoned end beside a UTC start is read an hour late by some clients.
    assert b"DTEND:20261025T083000Z\r\n" in body
    assert vobject.readOne(body.decode()).vevent.dtstart.value == start


def test_feed_holds_no_crew_names_notes_or_clearances(client, requester, paramedic, technician, lead, night):
    booking = book(requester, night)
    services.give_consent(booking_id=booking.pk, actor=paramedic, note="Call me on 07700 900123", now=NOW)
    services.approve_booking(booking_id=booking.pk, actor=lead, now=NOW)
    requester.clearances.update(reference="DBS-SECRET-42")
    for person in (requester, paramedic, lead):
        body = fetch(client, feed_path(person)[0]).content.decode()
        assert str(booking.uid) in body
        for secret in ("Pat Paramedic", "Terry", "07700", "DBS-SECRET", "pat@", "Lee Lead"):
            assert secret not in body


def test_feed_shows_only_its_owners_bookings(client, requester, mentor, night, resource):
    other = make_shift(resource, local(2026, 10, 14, 7), local(2026, 10, 14, 19), now=NOW)
    mine = book(requester, night)
    theirs = book(mentor, other)
    body = fetch(client, feed_path(requester)[0]).content
    assert str(mine.uid).encode() in body and str(theirs.uid).encode() not in body


def test_crew_and_leads_see_only_approved_bookings(client, requester, paramedic, lead, night):
    booking = book(requester, night)
    assert str(booking.uid).encode() not in fetch(client, feed_path(lead)[0]).content
    services.give_consent(booking_id=booking.pk, actor=paramedic, now=NOW)
    services.approve_booking(booking_id=booking.pk, actor=lead, now=NOW)
    assert str(booking.uid).encode() in fetch(client, feed_path(lead)[0]).content
    assert str(booking.uid).encode() in fetch(client, feed_path(paramedic)[0]).content


def test_rotated_revoked_and_deactivated_links_answer_404(client, requester, night):
    old_path, _ = feed_path(requester)
    new_path, _ = feed_path(requester)
    assert fetch(client, old_path).status_code == 404
    assert fetch(client, new_path).status_code == 200
    services.revoke_calendar_token(person=requester)
    assert fetch(client, new_path).status_code == 404
    path, _ = feed_path(requester)
    services.update_person(person=requester, is_active=False, now=NOW)
    assert fetch(client, path).status_code == 404
    assert fetch(client, "/calendar/rla_nonsense.ics").status_code == 404


def test_tokens_are_prefixed_and_stored_only_as_digests(requester):
    from scheduling.models import CalendarToken

    token = services.issue_calendar_token(person=requester, now=NOW)
    assert token.startswith("rla_") and len(token) >= 4 + 43
    stored = CalendarToken.objects.get(person=requester)
    assert stored.digest == hashlib.sha256(token.encode()).hexdigest()
    assert token not in {str(getattr(stored, f.attname)) for f in CalendarToken._meta.fields}


def test_conditional_requests_and_head(client, requester, night):
    book(requester, night)
    path, _ = feed_path(requester)
    full = fetch(client, path)
    assert full["Cache-Control"] == "private, max-age=300"
    assert full["ETag"].startswith('"') and not full["ETag"].startswith("W/")
    assert full["Last-Modified"]
    assert fetch(client, path, HTTP_IF_NONE_MATCH=full["ETag"]).status_code == 304
    assert fetch(client, path, HTTP_IF_MODIFIED_SINCE=full["Last-Modified"]).status_code == 304
    head = client.head(path)
    assert head.status_code == 200 and head.content == b"" and head["ETag"] == full["ETag"]


def test_a_weak_etag_from_a_proxy_still_gets_304(client, requester, night):
    book(requester, night)
    path, _ = feed_path(requester)
    full = fetch(client, path)
    assert full["ETag"].startswith('"')  # strong
    assert fetch(client, path, HTTP_IF_NONE_MATCH="W/" + full["ETag"]).status_code == 304
    assert fetch(client, path, HTTP_IF_NONE_MATCH='"other", ' + full["ETag"]).status_code == 304
    assert fetch(client, path, HTTP_IF_NONE_MATCH='W/"other"').status_code == 200


def test_gzip_when_accepted_with_the_same_bytes_inside(client, requester, night):
    import gzip

    book(requester, night)
    path, _ = feed_path(requester)
    plain = fetch(client, path)
    packed = fetch(client, path, HTTP_ACCEPT_ENCODING="gzip, deflate, br")
    assert "Content-Encoding" not in plain
    assert packed["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed["Vary"]
    assert gzip.decompress(packed.content) == plain.content
    assert len(packed.content) < len(plain.content)
    # Another representation, so another strong tag; each revalidates its own representation, also when
    # a proxy weakened it, and the same state gives the same compressed bytes.
    assert packed["ETag"] != plain["ETag"] and packed["ETag"].startswith('"')
    assert fetch(client, path, HTTP_IF_NONE_MATCH=packed["ETag"], HTTP_ACCEPT_ENCODING="gzip").status_code == 304
    assert fetch(client, path, HTTP_IF_NONE_MATCH="W/" + packed["ETag"], HTTP_ACCEPT_ENCODING="gzip").status_code == 304
    assert fetch(client, path, HTTP_IF_NONE_MATCH=plain["ETag"]).status_code == 304
    assert fetch(client, path, HTTP_ACCEPT_ENCODING="gzip").content == packed.content
    refused = fetch(client, path, HTTP_ACCEPT_ENCODING="gzip;q=0, identity")
    assert "Content-Encoding" not in refused


def test_calendar_link_page_headers(api, requester):
    response = api(requester).post("/api/v1/me/calendar-link")
    assert response["Referrer-Policy"] == "no-referrer"
    body = response.json()
    assert body["webcal_url"].startswith("webcal://") and body["url"].startswith("http")
    assert api(requester).delete("/api/v1/me/calendar-link").status_code == 204
    assert api(requester).delete("/api/v1/me/calendar-link").status_code == 404


def test_token_never_reaches_the_logs(client, requester, night, caplog):
    path, token = feed_path(requester)
    from scheduling.logging import MaskCalendarTokens

    handler_filter = MaskCalendarTokens()
    with caplog.at_level(logging.INFO):
        logging.getLogger("django.server").addFilter(handler_filter)
        try:
            logging.getLogger("django.server").info('"GET %s HTTP/1.1" 200 123', path)
            client.get(f"/calendar/{token}x.ics")
        finally:
            logging.getLogger("django.server").removeFilter(handler_filter)
    assert token not in caplog.text
    assert "rla_***" in caplog.text


def test_single_event_download_uses_the_same_builder(api, requester, night):
    booking = book(requester, night)
    response = api(requester).get(f"/api/v1/bookings/{booking.pk}/ics")
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    events = parse_events(response.content)
    assert list(events) == [str(booking.uid)]


def test_feed_query_count_is_constant(client, django_assert_num_queries, resource):
    requester = make_person(requester=True)
    station = make_station("FEED")
    resource = make_resource(station, "DA9", seats=1)
    path, _ = feed_path(requester)
    counts = []
    for total in (2, 12):  # an N+1 shows as well in a dozen events as in hundreds
        while Booking.objects.filter(requested_by=requester).count() < total:
            n = Booking.objects.filter(requested_by=requester).count()
            start = datetime(2026, 10, 10, tzinfo=UTC) + timedelta(hours=13 * n)
            shift = make_shift(resource, start, start + timedelta(hours=12), now=NOW)
            book(requester, shift)
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        # Once first, so one-off work of the process (the driver's type look-ups) is not counted.
        fetch(client, path)
        with CaptureQueriesContext(connection) as captured:
            response = fetch(client, path)
        assert response.content.count(b"BEGIN:VEVENT") == total
        counts.append(len(captured))
    assert counts[0] == counts[1]


def test_cached_event_bytes_equal_what_icalendar_writes_for_the_whole_calendar(requester, mentor, night, resource):
    from scheduling.calendar import build_event, event_data

    other = make_shift(resource, local(2026, 10, 14, 7), local(2026, 10, 14, 19), now=NOW)
    bookings = [book(requester, night), book(requester, other, [requester, mentor])]
    fast = build_feed(owner=requester, bookings=bookings, now=NOW)
    whole = Calendar.from_ical(fast)
    for component in list(whole.subcomponents):
        if component.name == "VEVENT":
            whole.subcomponents.remove(component)
    for booking in bookings:
        whole.add_component(build_event(event_data(booking, requester)))
    assert whole.to_ical() == fast


def test_the_feed_is_byte_for_byte_the_same_after_a_restart_of_the_event_memo(client, requester, night, monkeypatch):
    """Serialised events outlive the process: after a restart they come from the database, unchanged."""
    from scheduling import calendar
    from scheduling.models import FeedEvent

    book(requester, night)
    path, _ = feed_path(requester)
    first = fetch(client, path)
    assert FeedEvent.objects.count() == 1
    calendar.forget_remembered_events()  # as a restarted worker finds it

    def no_serialising(item):
        raise AssertionError("a remembered event was serialised again")

    monkeypatch.setattr(calendar, "build_event", no_serialising)
    FeedState.objects.all().delete()  # and no remembered answer either: the feed is built anew
    again = fetch(client, path)
    assert again.content == first.content and again["ETag"] == first["ETag"]
    monkeypatch.undo()
    # With nothing remembered anywhere, icalendar writes the very same bytes.
    calendar.forget_remembered_events()
    FeedEvent.objects.all().delete()
    FeedState.objects.all().delete()
    fresh = fetch(client, path)
    assert fresh.content == first.content and fresh["ETag"] == first["ETag"]


def test_process_due_drops_serialised_events_of_bookings_that_left_every_feed(requester, night):
    from scheduling.feed import forget_old_feed_events
    from scheduling.models import FeedEvent

    book(requester, night)
    build_feed(owner=requester, bookings=list(requester.requested_bookings.all()), now=NOW, stored=True)
    assert FeedEvent.objects.count() == 1
    assert forget_old_feed_events(NOW) == 0
    assert forget_old_feed_events(night.ends_at + timedelta(days=31)) == 1
    assert not FeedEvent.objects.exists()


def test_a_write_later_in_the_same_transaction_shows_in_the_feed(client, requester, night):
    """An answer worked out inside a transaction that has written is not kept: its own later writes
    would look already seen (PostgreSQL remembers answers; SQLite works each one out)."""
    from django.db import connection, connections

    path, _ = feed_path(requester)  # a write: this transaction has an id from here on
    if connection.vendor == "postgresql":
        # Another transaction takes a later id and commits, as in any busy database: this one's id
        # is then below the snapshot's horizon and, being its own, not listed as in progress.
        other = connections.create_connection("default")
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_current_xact_id()")
        other.close()
    assert b"BEGIN:VEVENT" not in fetch(client, path).content
    booking = book(requester, night)
    assert str(booking.uid).encode() in fetch(client, path).content
