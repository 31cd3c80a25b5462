"""The remembered feed answer on PostgreSQL (SPEC §9): a 304 costs one query, and every kind of write
that changes a feed, by any path, makes the next conditional request a 200 with the new bytes."""

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.db import connection

from scheduling import feed, services
from scheduling.models import FeedChange, Resource, Station
from scheduling.services import token_digest
from scheduling.services.shifts import ShiftChange
from tests.factories import make_person, make_resource, make_shift, make_station

pytestmark = [
    # Real commits: the answer is checked against other transactions' writes, as in production.
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
        reason="the remembered answer and its triggers are PostgreSQL's",
    ),
]


@pytest.fixture
def world():
    now = datetime.now(UTC).replace(microsecond=0)
    lead = make_person("feedlead", cleared=False)
    other_lead = make_person("otherlead", cleared=False)
    medic = make_person("feedmedic", cleared=False, preference="always")
    tech = make_person("feedtech", cleared=False, preference="always")
    requester = make_person("feedreq", requester=True)
    station = make_station("FDC", name="Coalville", address="Broom Leys Road", leads=[lead])
    resource = make_resource(station, "DA31", seats=2)
    # Four days on at 19:00 UTC: at least 72 hours ahead (the notice) whatever the hour the suite runs at.
    start = (now + timedelta(days=4)).replace(hour=19, minute=0, second=0)
    shift = make_shift(
        resource, start, start + timedelta(hours=12), crew=[(medic, "paramedic"), (tech, "technician")], now=now
    )
    booking = services.request_booking(actor=requester, shift_id=shift.pk, purpose="Nights", now=now)
    services.approve_booking(booking_id=booking.pk, actor=lead, now=now)
    people = {"requester": requester, "lead": lead, "medic": medic, "other_lead": other_lead}
    paths = {name: f"/calendar/{services.issue_calendar_token(person=p, now=now)}.ics" for name, p in people.items()}
    return {
        "now": now,
        "shift": shift,
        "booking": booking,
        "station": station,
        "resource": resource,
        **people,
        "paths": paths,
    }


def conditional(client, path, etag):
    return client.get(path, HTTP_IF_NONE_MATCH=etag)


def test_an_unchanged_feed_answers_304_in_one_query(client, world, django_assert_num_queries):
    path = world["paths"]["requester"]
    first = client.get(path)
    assert first.status_code == 200
    with django_assert_num_queries(1):
        again = conditional(client, path, first["ETag"])
    assert again.status_code == 304
    assert again["ETag"] == first["ETag"]
    assert again["Last-Modified"] == first["Last-Modified"]


def _retime(world):
    shift = world["shift"]
    change = ShiftChange(starts_at=shift.starts_at + timedelta(hours=1), ends_at=shift.ends_at + timedelta(hours=1))
    services.apply_shift_change(shift_id=shift.pk, actor=None, change=change, now=world["now"])


def _crew_role(world):
    shift = world["shift"]
    members = list(shift.crew_members.values_list("person_id", "role"))
    crew = [(person, "emt" if role == "technician" else role) for person, role in members]
    services.apply_shift_change(shift_id=shift.pk, actor=None, change=ShiftChange(crew=crew), now=world["now"])


def _rename_station_in_admin(world):
    # Straight to the model, as a careless script or the admin might: the triggers still see it.
    Station.objects.filter(pk=world["station"].pk).update(name="Coalville Hub")


def _new_call_sign(world):
    Resource.objects.filter(pk=world["resource"].pk).update(call_sign="DA39")


def _cancel(world):
    services.cancel_booking(booking_id=world["booking"].pk, actor=world["requester"], now=world["now"])


@pytest.mark.parametrize(
    ("change", "watcher", "shows"),
    [
        (_retime, "requester", b"DTSTART"),
        (_retime, "medic", b"DTSTART"),
        (_crew_role, "lead", b"EMT"),
        (_rename_station_in_admin, "medic", b"Coalville Hub"),
        (_new_call_sign, "requester", b"DA39"),
        (_cancel, "lead", None),
        (_cancel, "requester", b"STATUS:CANCELLED"),
    ],
    ids=["retime", "retime-crew", "crew-role", "station-renamed-directly", "call-sign", "cancel-lead", "cancel"],
)
def test_every_kind_of_write_ends_the_remembered_answer(client, world, change, watcher, shows):
    path = world["paths"][watcher]
    before = client.get(path)
    assert conditional(client, path, before["ETag"]).status_code == 304
    change(world)
    after = conditional(client, path, before["ETag"])
    assert after.status_code == 200
    assert after["ETag"] != before["ETag"]
    assert after.content != before.content
    if shows is not None:
        assert shows in after.content
    # And the new answer is remembered in turn.
    assert conditional(client, path, after["ETag"]).status_code == 304


def test_becoming_a_lead_brings_the_stations_approved_bookings(client, world):
    path = world["paths"]["other_lead"]
    before = client.get(path)
    assert b"BEGIN:VEVENT" not in before.content
    assert conditional(client, path, before["ETag"]).status_code == 304
    world["station"].leads.add(world["other_lead"])
    after = conditional(client, path, before["ETag"])
    assert after.status_code == 200
    assert b"BEGIN:VEVENT" in after.content


def test_the_remembered_answer_ends_when_time_alone_changes_the_feed(world):
    digest = token_digest(world["paths"]["requester"].removeprefix("/calendar/").removesuffix(".ics"))
    now = world["now"]
    assert feed.feed_link(digest, now).remembered is None  # nothing remembered yet
    person = world["requester"]
    worked_out = feed.work_out(person.pk, now)
    remembered = feed.feed_link(digest, now + timedelta(minutes=5)).remembered
    assert (remembered.etag, remembered.last_modified) == (worked_out.etag, worked_out.last_modified)
    # Thirty days after the shift ends it leaves the feed: the answer must not outlive that.
    gone = world["shift"].ends_at + timedelta(days=30, seconds=1)
    assert feed.feed_link(digest, gone).remembered is None
    assert feed.work_out(person.pk, gone).etag != worked_out.etag


def test_a_write_committed_after_the_answer_was_worked_out_is_noticed(world):
    """The answer's snapshot, not the clock, decides: a write it could not see invalidates it."""
    digest = token_digest(world["paths"]["requester"].removeprefix("/calendar/").removesuffix(".ics"))
    person = world["requester"]
    now = world["now"]
    feed.work_out(person.pk, now)
    assert feed.feed_link(digest, now).remembered is not None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_snapshot()::text")
        (before_write,) = cursor.fetchone()
    _cancel(world)
    # Pretend the answer was worked out before the cancellation committed.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE scheduling_feedstate SET snapshot = %s WHERE person_id = %s", [before_write, person.pk])
    assert feed.feed_link(digest, now).remembered is None


def test_old_change_notes_are_dropped_once_every_answer_has_seen_them(client, world):
    path = world["paths"]["requester"]
    client.get(path)  # remembers an answer that has seen every note so far
    person_id = world["requester"].pk
    assert FeedChange.objects.filter(person_id=person_id).exists()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE scheduling_feedchange SET at = at - interval '2 hours'")
    _cancel(world)  # a new note, not yet seen by the remembered answer
    dropped = feed.forget_absorbed_feed_changes()
    assert dropped > 0
    left = FeedChange.objects.filter(person_id=person_id)
    assert left.exists()  # the unseen one stays, so the stale answer is still caught
    assert feed.feed_link(token_digest(path[10:-4]), world["now"]).remembered is None
