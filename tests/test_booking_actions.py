"""What a reader may do to a booking now (access.booking_actions): one answer for the page, the API and the
services. Every persona × every state × before the start, during the shift and after it: an action is
offered exactly when the service accepts it."""

from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.test import Client

from scheduling import access, services
from scheduling.access import BookingAction
from scheduling.errors import BookingError
from scheduling.models import Booking, BookingStatus
from tests.factories import make_person, make_station

STATES = ["pending", "approved", "waitlisted", "declined", "cancelled", "expired"]
PERSONAS = ["requester", "observer", "crew", "lead", "other_lead", "admin"]
MOMENTS = ["before", "during", "after"]


class Undo(Exception):
    pass


def attempt(action: str, booking_id: int, person, now) -> bool:
    """Whether the service accepts the action; whatever it did is rolled back."""
    calls = {
        BookingAction.APPROVE: lambda: services.approve_booking(booking_id=booking_id, actor=person, now=now),
        BookingAction.DECLINE: lambda: services.decline_booking(
            booking_id=booking_id, actor=person, reason="No room", now=now
        ),
        BookingAction.CANCEL: lambda: services.cancel_booking(
            booking_id=booking_id, actor=person, reason="Plans changed", now=now
        ),
        BookingAction.GIVE_CONSENT: lambda: services.give_consent(booking_id=booking_id, actor=person, now=now),
        BookingAction.DECLINE_CONSENT: lambda: services.decline_consent(booking_id=booking_id, actor=person, now=now),
        BookingAction.WITHDRAW_CONSENT: lambda: services.withdraw_consent(booking_id=booking_id, actor=person, now=now),
        BookingAction.RECORD_OUTCOME: lambda: services.record_outcome(
            booking_id=booking_id, actor=person, outcome="attended", now=now
        ),
    }
    try:
        with transaction.atomic():
            calls[action]()
            raise Undo
    except Undo:
        return True
    except BookingError:
        return False


@pytest.fixture
def world(requester, mentor, paramedic, technician, lead, admin_user, night, book, now):
    other_lead = make_person("olive", name="Olive Otherlead", cleared=False)
    make_station("MEL", leads=[other_lead])
    people = {
        "requester": requester,
        "observer": mentor,
        "crew": paramedic,
        "lead": lead,
        "other_lead": other_lead,
        "admin": admin_user,
    }
    return people


def make_state(state, *, night, requester, mentor, paramedic, lead, book, now):
    """A booking by Rachel for Mo in the given state, built through the services."""
    if state == "waitlisted":
        # The night's two seats go to another party first.
        other = make_person(requester=True)
        book(other, night, [other, make_person()])
        booking = book(requester, night, [mentor])
        assert booking.status == BookingStatus.WAITLISTED
        return booking
    booking = book(requester, night, [mentor])
    if state == "approved":
        services.give_consent(booking_id=booking.pk, actor=paramedic, now=now)
        services.approve_booking(booking_id=booking.pk, actor=lead, now=now)
    elif state == "declined":
        services.decline_booking(booking_id=booking.pk, actor=lead, reason="No room", now=now)
    elif state == "cancelled":
        services.cancel_booking(booking_id=booking.pk, actor=requester, now=now)
    elif state == "expired":
        services.expire_due(now=night.starts_at)
    booking = Booking.objects.get(pk=booking.pk)
    assert booking.status == state
    return booking


@pytest.mark.parametrize("state", STATES)
def test_an_action_is_offered_exactly_when_the_service_accepts_it(
    state, world, night, requester, mentor, paramedic, lead, book, now
):
    booking = make_state(
        state, night=night, requester=requester, mentor=mentor, paramedic=paramedic, lead=lead, book=book, now=now
    )
    shift = booking.shift
    moments = {
        "before": now,
        "during": shift.starts_at + timedelta(hours=1),
        "after": shift.ends_at + timedelta(hours=1),
    }
    seen = {}
    for moment, at in moments.items():
        for persona, person in world.items():
            person = type(person).objects.get(pk=person.pk)  # a fresh reader, no cached leads
            offered = (
                access.booking_actions(person, access.access_booking(person, booking.pk), at)
                if (access.bookings_visible_to(person).filter(pk=booking.pk).exists())
                else []
            )
            accepted = [a for a in BookingAction.ALL if attempt(a, booking.pk, person, at)]
            assert offered == accepted, (state, moment, persona)
            seen[(moment, persona)] = offered
    # The shape of it, spelled out for the states a person meets most.
    if state == "pending":
        assert seen[("before", "lead")] == ["approve", "decline", "cancel"]
        assert seen[("before", "crew")] == ["give_consent", "decline_consent"]
        assert seen[("before", "requester")] == seen[("before", "observer")] == ["cancel"]
        assert seen[("before", "other_lead")] == [] and seen[("during", "lead")] == []
    if state == "waitlisted":
        assert seen[("before", "lead")] == ["decline", "cancel"]
    if state == "approved":
        assert seen[("before", "crew")] == ["decline_consent", "withdraw_consent"]
        assert seen[("after", "crew")] == seen[("after", "lead")] == ["record_outcome"]
        assert seen[("after", "requester")] == []
    if state in ("declined", "cancelled", "expired"):
        assert not any(seen.values())


def test_the_booking_page_shows_the_buttons_of_those_actions_only(
    world, night, requester, mentor, paramedic, lead, book, now
):
    booking = make_state(
        "waitlisted",
        night=night,
        requester=requester,
        mentor=mentor,
        paramedic=paramedic,
        lead=lead,
        book=book,
        now=now,
    )
    page = Client()
    page.force_login(lead)
    with time_machine.travel(now, tick=False):
        html = page.get(f"/bookings/{booking.pk}/").content.decode()
        api = page.get(f"/api/v1/bookings/{booking.pk}").json()
    assert f"/bookings/{booking.pk}/approve/" not in html  # a waitlisted booking cannot be approved
    assert f"/bookings/{booking.pk}/decline/" in html and f"/bookings/{booking.pk}/cancel/" in html
    assert api["actions"] == ["decline", "cancel"]
    page.force_login(requester)
    with time_machine.travel(night.starts_at + timedelta(minutes=1), tick=False):
        started = page.get(f"/bookings/{booking.pk}/").content.decode()
    assert f"/bookings/{booking.pk}/cancel/" not in started
