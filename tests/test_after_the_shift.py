"""After the shift (SPEC §14): reflections, actions, crew feedback, the learning log and action reminders."""

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.conf import settings as django_settings
from django.db import connections

from scheduling import services
from scheduling.delivery import process_due
from scheduling.models import Booking, FollowUp, Notification
from tests.factories import local, make_person, make_resource, make_shift, make_station


@pytest.fixture
def ridealong(requester, mentor, night, paramedic, lead, book, now):
    """Rachel and Mo observed the 10 October night; it went ahead."""
    booking = book(requester, night, [requester, mentor])
    services.give_consent(booking_id=booking.pk, actor=paramedic, now=now)
    services.approve_booking(booking_id=booking.pk, actor=lead, now=now)
    return Booking.objects.get(pk=booking.pk)


@pytest.fixture
def after(night):
    return night.ends_at + timedelta(hours=2)


def at(moment):
    return time_machine.travel(moment, tick=False)


def path(booking, tail):
    return f"/api/v1/bookings/{booking.pk}/{tail}"


def test_before_the_shift_ends_everything_is_too_early(api, ridealong, requester, paramedic, night):
    with at(night.ends_at - timedelta(minutes=1)):
        calls = [
            api(requester).put(path(ridealong, "reflection"), {"text": "Early"}, format="json"),
            api(requester).get(path(ridealong, "reflections")),
            api(requester).post(path(ridealong, "actions"), {"text": "Read the protocol"}, format="json"),
            api(paramedic).post(path(ridealong, "feedback"), {"text": "Welcome"}, format="json"),
        ]
    assert [(r.status_code, r.json()["code"]) for r in calls] == [(409, "too_early")] * 4


def test_a_reflection_is_private_until_shared(api, ridealong, requester, mentor, paramedic, lead, after):
    with at(after):
        mine = api(requester).put(
            path(ridealong, "reflection"), {"text": "Calm under pressure", "shared": False}, format="json"
        )
        assert mine.status_code == 200 and mine.json()["shared"] is False
        assert api(mentor).get(path(ridealong, "reflections")).json() == []
        for outsider in (paramedic, lead):
            assert api(outsider).get(path(ridealong, "reflections")).status_code == 403
            assert api(outsider).get(path(ridealong, "reflection")).status_code == 403
        api(requester).put(
            path(ridealong, "reflection"), {"text": "Calm under pressure", "shared": True}, format="json"
        )
        seen = api(mentor).get(path(ridealong, "reflections")).json()
        assert [(r["author"], r["text"]) for r in seen] == [(requester.pk, "Calm under pressure")]
        assert api(mentor).get(path(ridealong, "reflection")).status_code == 404  # Mo has written none
        assert api(requester).get(path(ridealong, "reflection")).json()["text"] == "Calm under pressure"


def test_only_observers_whose_place_was_held_reflect(api, requester, mentor, night, book, lead, paramedic, now, after):
    booking = book(requester, night, [requester, mentor])
    services.give_consent(booking_id=booking.pk, actor=paramedic, now=now)
    services.approve_booking(booking_id=booking.pk, actor=lead, now=now)
    services.cancel_booking(booking_id=booking.pk, actor=mentor, now=now)  # Mo left before the night
    with at(after):
        response = api(mentor).put(path(booking, "reflection"), {"text": "I was not there"}, format="json")
    assert response.status_code == 403


def test_a_ride_along_that_did_not_go_ahead_has_no_reflections(api, requester, mentor, night, book, now, after):
    cancelled = book(requester, night)
    services.cancel_booking(booking_id=cancelled.pk, actor=requester, now=now)
    expired = book(mentor, night)
    with at(after):
        services.expire_due(now=after)
        response = api(requester).put(path(cancelled, "reflection"), {"text": "Never went"}, format="json")
        assert response.status_code == 403  # her place was released: she observed nothing
        response = api(mentor).put(path(expired, "reflection"), {"text": "Never approved"}, format="json")
    assert response.status_code == 403


def test_actions_are_shared_by_the_observers_and_owned_by_one(api, ridealong, requester, mentor, outsider, after):
    with at(after):
        made = api(requester).post(
            path(ridealong, "actions"),
            {"text": "Shadow the control desk", "owner": mentor.pk, "due_on": "2026-10-20"},
            format="json",
        )
        assert made.status_code == 201 and made["Location"].endswith(f"/api/v1/actions/{made.json()['id']}")
        listed = api(mentor).get(path(ridealong, "actions")).json()
        assert [(a["text"], a["owner"], a["done"]) for a in listed] == [("Shadow the control desk", mentor.pk, False)]
        done = api(mentor).patch(f"/api/v1/actions/{made.json()['id']}", {"done": True}, format="json")
        assert done.status_code == 200 and done.json()["done"] is True
        stranger = api(requester).post(path(ridealong, "actions"), {"text": "x", "owner": outsider.pk}, format="json")
        assert stranger.status_code == 400 and "owner" in stranger.json()["fields"]
        assert (
            api(outsider).patch(f"/api/v1/actions/{made.json()['id']}", {"done": False}, format="json").status_code
            == 404
        )
        assert api(requester).delete(f"/api/v1/actions/{made.json()['id']}").status_code == 204
        assert not FollowUp.objects.exists()


def test_crew_feedback_is_anonymous_to_observers_and_named_for_the_lead(
    api, ridealong, requester, paramedic, technician, lead, after
):
    with at(after):
        made = api(paramedic).post(path(ridealong, "feedback"), {"text": "Good questions all night"}, format="json")
        assert made.status_code == 201
        as_observer = api(requester).get(path(ridealong, "feedback")).json()
        assert as_observer == [
            {
                "id": made.json()["id"],
                "text": "Good questions all night",
                "author": None,
                "author_name": "A crew member",
                "created_at": as_observer[0]["created_at"],
            }
        ]
        as_lead = api(lead).get(path(ridealong, "feedback")).json()
        assert as_lead[0]["author"] == paramedic.pk and as_lead[0]["author_name"] == "Pat Paramedic"
        assert api(requester).post(path(ridealong, "feedback"), {"text": "Me too"}, format="json").status_code == 403
        learning = api(requester).get("/api/v1/me/learning").json()["results"]
        assert "Pat" not in str(learning)


def test_the_learning_log_lists_past_ride_alongs_newest_first(api, ridealong, requester, mentor, after, night):
    with at(after):
        api(mentor).put(path(ridealong, "reflection"), {"text": "Shared thought", "shared": True}, format="json")
        api(requester).put(path(ridealong, "reflection"), {"text": "Private thought"}, format="json")
        api(requester).post(
            path(ridealong, "actions"), {"text": "Book the next one", "due_on": "2026-11-01"}, format="json"
        )
        log = api(requester).get("/api/v1/me/learning").json()
    entry = log["results"][0]
    assert log["count"] == 1 and entry["booking"] == ridealong.pk
    assert entry["reflection"]["text"] == "Private thought"
    assert [r["text"] for r in entry["shared_reflections"]] == ["Shared thought"]
    assert [a["text"] for a in entry["actions"]] == ["Book the next one"]
    with at(night.starts_at - timedelta(days=1)):
        assert api(requester).get("/api/v1/me/learning").json()["count"] == 0  # not yet past


def test_the_learning_log_takes_a_constant_number_of_queries(
    api, requester, lead, station, django_assert_max_num_queries, now
):
    def past_ride_alongs(count, first_day):
        resource = make_resource(station)
        for i in range(count):
            day = first_day + 2 * i
            shift = make_shift(resource, local(2026, 10, day, 7), local(2026, 10, day, 19))
            booking = services.request_booking(actor=requester, shift_id=shift.pk, purpose="Days", now=now)
            services.approve_booking(booking_id=booking.pk, actor=lead, now=now)
            booking = Booking.objects.get(pk=booking.pk)
            services.after.save_reflection(
                person=requester, booking=booking, text="Noted", shared=False, now=shift.ends_at
            )

    past_ride_alongs(2, 5)
    with at(datetime(2026, 12, 1, tzinfo=UTC)), django_assert_max_num_queries(12):
        assert api(requester).get("/api/v1/me/learning").json()["count"] == 2
    past_ride_alongs(5, 11)
    with at(datetime(2026, 12, 1, tzinfo=UTC)), django_assert_max_num_queries(12):
        assert api(requester).get("/api/v1/me/learning").json()["count"] == 7


def action_due(ridealong, owner, due_on, *, when):
    return services.after.add_action(
        person=owner, booking=ridealong, text="Read the sepsis pathway", owner_id=owner.pk, due_on=due_on, now=when
    )


def reminders():
    return list(Notification.objects.filter(kind__startswith="action_").values_list("kind", "recipient_id"))


def test_action_reminders_at_eight_on_the_due_date_and_a_week_later_each_once(ridealong, mentor, after):
    # Due on Sunday 25 October 2026, the night the clocks go back: 08:00 GMT = 08:00 UTC.
    action_due(ridealong, mentor, date(2026, 10, 25), when=after)
    for minute in range(0, 24 * 60, 30):
        process_due(now=datetime(2026, 10, 24, 12, tzinfo=UTC) + timedelta(minutes=minute))
        if reminders():
            break
    assert reminders() == [("action_due", mentor.pk)]
    sent_at = Notification.objects.get(kind="action_due").created_at
    assert sent_at == datetime(2026, 10, 25, 8, tzinfo=UTC)
    for day in range(10):
        process_due(now=datetime(2026, 10, 25, 9, tzinfo=UTC) + timedelta(days=day))
    assert reminders() == [("action_due", mentor.pk), ("action_overdue", mentor.pk)]
    assert Notification.objects.get(kind="action_overdue").created_at == datetime(2026, 11, 1, 9, tzinfo=UTC)


def test_summer_due_dates_remind_at_eight_british_summer_time(ridealong, mentor, after):
    action_due(ridealong, mentor, date(2027, 4, 5), when=after)
    process_due(now=datetime(2027, 4, 5, 6, 59, tzinfo=UTC))
    assert reminders() == []
    process_due(now=datetime(2027, 4, 5, 7, 0, tzinfo=UTC))  # 08:00 BST
    assert reminders() == [("action_due", mentor.pk)]


def test_no_reminder_for_a_done_action(ridealong, mentor, after):
    action = action_due(ridealong, mentor, date(2026, 10, 25), when=after)
    services.after.update_action(person=mentor, action=action, now=after, done=True)
    process_due(now=datetime(2026, 11, 10, tzinfo=UTC))
    assert reminders() == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    not django_settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
    reason="two process_due runs at once need PostgreSQL: run with DATABASE_URL=postgres://…",
)
def test_two_process_due_runs_at_once_queue_each_reminder_once(db):
    requester = make_person(requester=True)
    lead = make_person(cleared=False)
    station = make_station(leads=[lead])
    shift = make_shift(make_resource(station), local(2026, 10, 10, 19), local(2026, 10, 11, 7))
    booking = services.request_booking(
        actor=requester, shift_id=shift.pk, purpose="x", now=datetime(2026, 10, 1, tzinfo=UTC)
    )
    services.approve_booking(booking_id=booking.pk, actor=lead, now=datetime(2026, 10, 1, tzinfo=UTC))
    booking = Booking.objects.get(pk=booking.pk)
    for i in range(5):
        action_due(booking, requester, date(2026, 10, 20 + i), when=shift.ends_at)
    moment = datetime(2026, 11, 10, tzinfo=UTC)
    barrier = threading.Barrier(2)

    def run():
        try:
            barrier.wait()
            process_due(now=moment)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    kinds = sorted(Notification.objects.filter(kind__startswith="action_").values_list("kind", flat=True))
    assert kinds == ["action_due"] * 5 + ["action_overdue"] * 5
