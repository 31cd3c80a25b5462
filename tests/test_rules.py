"""Each rule of SPEC §5.2: one test that breaks it, one that just passes at the boundary."""

from datetime import date, timedelta

import pytest

from scheduling import rules, services
from scheduling.errors import RuleViolation
from scheduling.models import Booking, BookingStatus
from tests.factories import local, make_person, make_resource, make_shift, make_station


def codes_of(fn):
    with pytest.raises(RuleViolation) as caught:
        fn()
    return caught.value.code


def test_cancelled_shift_is_unavailable(requester, night, book, now):
    services.apply_shift_change(shift_id=night.pk, actor=None, change=services.ShiftChange(status="cancelled"), now=now)
    assert codes_of(lambda: book(requester, night)) == "shift_unavailable"
    assert not Booking.objects.exists()


def test_shift_with_no_seats_is_unavailable(requester, resource, now, book):
    shift = make_shift(resource, local(2026, 10, 12, 7), local(2026, 10, 12, 19), seats=0, now=now)
    assert codes_of(lambda: book(requester, shift)) == "shift_unavailable"


def test_crew_who_never_host_make_shift_unavailable_without_saying_why(requester, resource, now, book):
    shy = make_person("shy", preference="never", cleared=False)
    shift = make_shift(resource, local(2026, 10, 12, 7), local(2026, 10, 12, 19), crew=[(shy, "emt")], now=now)
    with pytest.raises(RuleViolation) as caught:
        book(requester, shift)
    assert caught.value.code == "shift_unavailable"
    assert "shy" not in caught.value.detail.lower()


def test_started_shift_cannot_be_booked(requester, night, book):
    assert codes_of(lambda: book(requester, night, at=night.starts_at)) == "shift_started"


def test_notice_boundary(requester, mentor, station, night, book):
    exactly = night.starts_at - timedelta(hours=station.min_notice_hours)
    assert codes_of(lambda: book(requester, night, at=exactly + timedelta(seconds=1))) == "too_late"
    assert book(mentor, night, at=exactly).status == BookingStatus.PENDING


def test_suspended_station_refuses_shifts_before_the_end_of_suspension(requester, lead, station, night, book, now):
    services.suspend_station(
        station_id=station.pk,
        actor=lead,
        until=night.starts_at + timedelta(minutes=1),
        reason="Inspection",
        cancel_bookings=False,
        now=now,
    )
    assert codes_of(lambda: book(requester, night)) == "station_suspended"


def test_suspension_ending_exactly_at_the_start_lets_the_shift_be_booked(requester, lead, station, night, book, now):
    services.suspend_station(
        station_id=station.pk, actor=lead, until=night.starts_at, reason="Inspection", cancel_bookings=False, now=now
    )
    assert book(requester, night).status == BookingStatus.PENDING


def test_crew_cannot_observe_their_own_shift_and_only_leads_hear_why(resource, lead, now, book):
    medic = make_person("medic", requester=True, name="Mel Medic")
    shift = make_shift(resource, local(2026, 10, 12, 7), local(2026, 10, 12, 19), crew=[(medic, "paramedic")], now=now)
    # To a requester, being rostered reads as any other clash: naming colleagues cannot reveal the crew.
    with pytest.raises(RuleViolation) as caught:
        book(medic, shift)
    assert (caught.value.code, caught.value.detail) == ("observer_overlap", "Mel Medic is not free at that time.")
    lead.profile.is_requester = True
    lead.profile.save(update_fields=["is_requester"])
    assert codes_of(lambda: book(lead, shift, [medic])) == "observer_is_crew"


def test_duplicate_booking_on_same_shift(requester, mentor, night, book):
    book(requester, night)
    assert codes_of(lambda: book(mentor, night, [requester, mentor])) == "duplicate_booking"


def test_observer_overlap_across_stations_and_back_to_back_is_fine(requester, night, book, now):
    other = make_resource(make_station("MEL"), "DA40")
    overlapping = make_shift(other, local(2026, 10, 11, 6), local(2026, 10, 11, 18), now=now)
    back_to_back = make_shift(other, local(2026, 10, 11, 7), local(2026, 10, 11, 19), now=now)
    book(requester, night)
    assert codes_of(lambda: book(requester, overlapping)) == "observer_overlap"
    assert book(requester, back_to_back).status == BookingStatus.PENDING


def test_missing_clearance_names_observer_and_kind(requester, night, book):
    novice = make_person("novice", cleared=False)
    with pytest.raises(RuleViolation) as caught:
        book(requester, night, [novice])
    assert caught.value.code == "clearance_missing"
    # The kinds signed online (SPEC §19) leave the paperwork outstanding instead; a DBS check still refuses.
    assert caught.value.data == {"observer": novice.pk, "kind": "dbs", "kinds": ["dbs"]}
    assert "no DBS check on record" in caught.value.detail


def test_an_observer_lacking_only_online_paperwork_is_held_with_it_outstanding(requester, night, book):
    from scheduling.models import Clearance

    newcomer = make_person("newcomer", cleared=False)
    Clearance.objects.create(person=newcomer, kind="dbs", valid_from=date(2020, 1, 1))
    booking = book(requester, night, [newcomer])
    assert booking.status == BookingStatus.PENDING
    assert rules.paperwork_missing(night, [newcomer]) == [(newcomer.pk, "confidentiality"), (newcomer.pk, "briefing")]


def test_clearance_ending_on_the_nights_end_date_covers_it(requester, night, book):
    # The night ends at 07:00 on the 11th: a clearance must run to the 11th.
    short = make_person("short", clear_until=date(2026, 10, 10))
    exact = make_person("exact", clear_until=date(2026, 10, 11))
    assert codes_of(lambda: book(requester, night, [short])) == "clearance_expired"
    assert book(requester, night, [exact]).status == BookingStatus.PENDING


def test_clearance_starting_after_the_shift_is_expired(requester, night, book):
    late = make_person("late", clear_from=date(2026, 10, 11))
    assert codes_of(lambda: book(requester, night, [late])) == "clearance_expired"


def test_observer_turns_minimum_age_on_the_shift_date(requester, night, book):
    young = make_person("young", dob=date(2008, 10, 11))
    birthday = make_person("birthday", dob=date(2008, 10, 10))
    assert codes_of(lambda: book(requester, night, [young])) == "observer_too_young"
    assert book(requester, night, [birthday]).status == BookingStatus.PENDING


def test_observer_limit_per_year(requester, resource, now, book):
    station = resource.station
    station.observer_limit_365d = 2
    station.save()
    shifts = [make_shift(resource, local(2026, 10, 12 + i, 7), local(2026, 10, 12 + i, 19), now=now) for i in range(3)]
    book(requester, shifts[0])
    assert book(requester, shifts[1]).status == BookingStatus.PENDING  # exactly at the limit
    assert codes_of(lambda: book(requester, shifts[2])) == "observer_limit"


def test_crew_hosting_limit_fourth_passes_fifth_fails(resource, paramedic, now, book):
    shifts = [
        make_shift(
            resource,
            local(2026, 10, 5 + 5 * i, 7),
            local(2026, 10, 5 + 5 * i, 19),
            crew=[(paramedic, "paramedic")],
            now=now,
        )
        for i in range(5)
    ]
    # All five start within 28 days (5 Oct .. 25 Oct).
    observers = [make_person(requester=True) for _ in range(5)]
    for shift, observer in zip(shifts[:4], observers, strict=False):
        assert book(observer, shift).status == BookingStatus.PENDING
    assert codes_of(lambda: book(observers[4], shifts[4])) == "crew_hosting_limit"


def test_crew_hosting_window_is_28_days_half_open(resource, paramedic, now, book):
    station = resource.station
    station.crew_hosting_limit = 1
    station.save()
    first = make_shift(
        resource, local(2026, 10, 5, 7), local(2026, 10, 5, 19), crew=[(paramedic, "paramedic")], now=now
    )
    within = make_shift(
        resource, local(2026, 11, 1, 6), local(2026, 11, 1, 18), crew=[(paramedic, "paramedic")], now=now
    )
    after = make_shift(
        resource,
        first.starts_at + timedelta(days=28),
        first.starts_at + timedelta(days=28, hours=1),
        crew=[(paramedic, "paramedic")],
        now=now,
    )
    a, b, c = (make_person(requester=True) for _ in range(3))
    book(a, first)
    assert codes_of(lambda: book(b, within)) == "crew_hosting_limit"
    assert book(c, after).status == BookingStatus.PENDING


def test_last_seat_then_waitlist_or_no_seats(requester, mentor, night, book):
    third = make_person("third", requester=True)
    assert book(requester, night, [requester, mentor]).status == BookingStatus.PENDING  # exactly at capacity
    assert book(third, night).status == BookingStatus.WAITLISTED
    fourth = make_person("fourth", requester=True)
    assert codes_of(lambda: book(fourth, night, allow_waitlist=False)) == "no_seats"


def test_station_day_capacity_counts_every_shift_of_the_local_date(resource, now, book):
    station = resource.station
    station.max_observers_per_day = 1
    station.save()
    day = make_shift(resource, local(2026, 10, 12, 7), local(2026, 10, 12, 19), now=now)
    other = make_resource(station, "DA99")
    night = make_shift(other, local(2026, 10, 12, 19), local(2026, 10, 13, 7), now=now)
    next_day = make_shift(other, local(2026, 10, 13, 8), local(2026, 10, 13, 19), now=now)
    a, b, c = (make_person(requester=True) for _ in range(3))
    assert book(a, day).status == BookingStatus.PENDING
    assert book(b, night).status == BookingStatus.WAITLISTED
    assert book(c, next_day).status == BookingStatus.PENDING


def test_party_is_all_or_nothing(requester, mentor, night, book):
    solo = make_person("solo", requester=True)
    book(solo, night)
    party = book(requester, night, [requester, mentor])
    assert party.status == BookingStatus.WAITLISTED
    assert set(party.places.values_list("state", flat=True)) == {"waitlisted"}
