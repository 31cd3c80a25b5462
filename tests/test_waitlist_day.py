"""A place freed under a station's daily cap reaches every waiting list of that day (SPEC §5 Waitlist)."""

from datetime import timedelta

import pytest

from scheduling import services
from scheduling.models import Booking, BookingStatus
from tests.factories import local, make_person, make_resource, make_shift, make_station


@pytest.fixture
def capped(lead):
    """A station that lets one observer a day, with two vehicles out on the same night."""
    return make_station("CAP", name="Capped", leads=[lead], max_observers_per_day=1)


@pytest.fixture
def two_nights(capped, now):
    first = make_shift(make_resource(capped, "CA1", seats=2), local(2026, 10, 10, 19), local(2026, 10, 11, 7), now=now)
    second = make_shift(make_resource(capped, "CA2", seats=2), local(2026, 10, 10, 19), local(2026, 10, 11, 7), now=now)
    return first, second


@pytest.fixture
def kay(db):
    return make_person("kay", requester=True)


@pytest.fixture
def rae(db):
    return make_person("rae", requester=True)


def status(booking):
    return Booking.objects.get(pk=booking.pk).status


def test_a_cancel_on_one_shift_promotes_the_waitlist_of_another_shift_that_day(two_nights, kay, rae, book, now):
    first, second = two_nights
    kays = book(kay, first)
    raes = book(rae, second)
    assert (kays.status, raes.status) == (BookingStatus.PENDING, BookingStatus.WAITLISTED)

    services.cancel_booking(booking_id=kays.pk, actor=kay, now=now)

    assert status(raes) == BookingStatus.PENDING
    assert Booking.objects.get(pk=raes.pk).events.filter(action="promoted").exists()


def test_the_day_waitlists_are_taken_oldest_first_across_shifts(two_nights, kay, rae, book, now):
    first, second = two_nights
    kays = book(kay, first)
    older = book(rae, second, at=now)
    newer = book(make_person(requester=True), first, at=now + timedelta(minutes=1))

    services.cancel_booking(booking_id=kays.pk, actor=kay, now=now + timedelta(minutes=2))

    assert (status(older), status(newer)) == (BookingStatus.PENDING, BookingStatus.WAITLISTED)


def test_a_party_that_does_not_fit_is_skipped_and_a_later_single_promoted(capped, two_nights, kay, rae, book, now):
    first, second = two_nights
    services.update_station(actor=make_person(staff=True), station_id=capped.pk, now=now, max_observers_per_day=2)
    kays = book(kay, first, [kay, make_person()])
    services.update_station(actor=make_person(staff=True), station_id=capped.pk, now=now, max_observers_per_day=1)
    pair = book(make_person(requester=True), second, [make_person(), make_person()], at=now + timedelta(minutes=1))
    single = book(rae, second, at=now + timedelta(minutes=2))
    assert (status(pair), status(single)) == (BookingStatus.WAITLISTED, BookingStatus.WAITLISTED)

    services.cancel_booking(booking_id=kays.pk, actor=kay, now=now + timedelta(minutes=3))

    assert status(pair) == BookingStatus.WAITLISTED  # skipped, not dropped
    assert status(single) == BookingStatus.PENDING


def test_an_observer_leaving_their_place_frees_the_day_for_another_shift(two_nights, kay, rae, lead, book, now):
    first, second = two_nights
    services.update_station(actor=lead, station_id=first.station_id, now=now, max_observers_per_day=2)
    mate = make_person()
    party = book(kay, first, [kay, mate])
    raes = book(rae, second)
    assert status(raes) == BookingStatus.WAITLISTED

    services.cancel_booking(booking_id=party.pk, actor=mate, now=now)

    assert status(party) == BookingStatus.PENDING
    assert status(raes) == BookingStatus.PENDING


def test_a_lead_decline_frees_the_day(two_nights, kay, rae, lead, book, now):
    first, second = two_nights
    kays = book(kay, first)
    raes = book(rae, second)
    services.decline_booking(booking_id=kays.pk, actor=lead, reason="Not this week", now=now)
    assert status(raes) == BookingStatus.PENDING


def test_a_crew_withdrawal_frees_the_day(capped, kay, rae, lead, book, now):
    medic = make_person("medic", cleared=False)
    first = make_shift(
        make_resource(capped, "CA1"), local(2026, 10, 10, 19), local(2026, 10, 11, 7), crew=[(medic, "paramedic")]
    )
    second = make_shift(make_resource(capped, "CA2"), local(2026, 10, 10, 20), local(2026, 10, 11, 6))
    kays = book(kay, first)
    raes = book(rae, second)
    services.give_consent(booking_id=kays.pk, actor=medic, now=now)
    services.withdraw_consent(booking_id=kays.pk, actor=medic, now=now)
    assert status(kays) == BookingStatus.CANCELLED
    assert status(raes) == BookingStatus.PENDING


def test_expiry_of_an_early_shift_frees_the_day_for_a_later_one(capped, kay, rae, book, now):
    day = make_shift(make_resource(capped, "CA1"), local(2026, 10, 10, 7), local(2026, 10, 10, 19))
    night = make_shift(make_resource(capped, "CA2"), local(2026, 10, 10, 19), local(2026, 10, 11, 7))
    kays = book(kay, day)
    raes = book(rae, night)

    services.expire_due(now=local(2026, 10, 10, 8))

    assert status(kays) == BookingStatus.EXPIRED
    assert status(raes) == BookingStatus.PENDING


def test_raising_the_daily_cap_promotes(capped, two_nights, kay, rae, lead, book, now):
    first, second = two_nights
    book(kay, first)
    raes = book(rae, second)
    services.update_station(actor=lead, station_id=capped.pk, now=now, max_observers_per_day=2)
    assert status(raes) == BookingStatus.PENDING


def test_lifting_a_suspension_promotes(capped, two_nights, kay, rae, lead, book, now):
    first, second = two_nights
    kays = book(kay, first)
    raes = book(rae, second)
    services.suspend_station(
        station_id=capped.pk,
        actor=lead,
        until=local(2026, 10, 12),
        reason="Vehicle checks",
        cancel_bookings=False,
        now=now,
    )
    services.cancel_booking(booking_id=kays.pk, actor=kay, now=now)
    assert status(raes) == BookingStatus.WAITLISTED  # suspended: not promoted yet

    services.lift_suspension(station_id=capped.pk, actor=lead, now=now)

    assert status(raes) == BookingStatus.PENDING


def test_raising_a_shifts_seats_promotes(capped, lead, kay, rae, book, now):
    services.update_station(actor=lead, station_id=capped.pk, now=now, max_observers_per_day=None)
    shift = make_shift(make_resource(capped, "CA1", seats=1), local(2026, 10, 10, 19), local(2026, 10, 11, 7))
    book(kay, shift)
    raes = book(rae, shift)
    services.apply_shift_change(shift_id=shift.pk, actor=lead, change=services.ShiftChange(observer_seats=2), now=now)
    assert status(raes) == BookingStatus.PENDING


def test_a_shift_moved_to_another_day_frees_its_old_day(two_nights, kay, rae, lead, book, now):
    first, second = two_nights
    book(kay, first)
    raes = book(rae, second)
    services.apply_shift_change(
        shift_id=first.pk,
        actor=lead,
        change=services.ShiftChange(starts_at=local(2026, 10, 12, 19), ends_at=local(2026, 10, 13, 7)),
        now=now,
    )
    assert status(raes) == BookingStatus.PENDING


def test_a_cancelled_shift_frees_the_day(two_nights, kay, rae, lead, book, now):
    first, second = two_nights
    book(kay, first)
    raes = book(rae, second)
    services.apply_shift_change(shift_id=first.pk, actor=lead, change=services.ShiftChange(status="cancelled"), now=now)
    assert status(raes) == BookingStatus.PENDING


def test_the_api_cancel_promotes_across_the_day(two_nights, kay, rae, api, book, now):
    first, second = two_nights
    kays = book(kay, first)
    raes = book(rae, second)
    import time_machine

    with time_machine.travel(now, tick=False):
        response = api(kay).post(f"/api/v1/bookings/{kays.pk}/cancel", {}, format="json")
    assert response.status_code == 200, response.content
    with time_machine.travel(now, tick=False):
        body = api(rae).get(f"/api/v1/bookings/{raes.pk}").json()
    assert body["status"] == "pending"
