"""A change that touches several bookings commits whole or not at all (SPEC §5.3)."""

from datetime import date

import pytest

from scheduling import notifications, services
from scheduling.models import AuditEvent, Booking, Clearance, Station
from tests.factories import local, make_resource, make_shift


class Crash(Exception):
    pass


@pytest.fixture
def two_held(requester, station, book, now):
    """Rachel holds places on two nights; her DBS clearance covers both."""
    resource = make_resource(station, "DA40")
    nights = [make_shift(resource, local(2026, 10, 20 + 2 * i, 19), local(2026, 10, 21 + 2 * i, 7)) for i in range(2)]
    return [book(requester, shift) for shift in nights]


def crash_on_second_cancellation(monkeypatch):
    calls = []
    real = notifications.tell_parties

    def tell(booking, kind, **kwargs):
        calls.append(kind)
        if kind == "cancelled" and calls.count("cancelled") == 2:
            raise Crash
        return real(booking, kind, **kwargs)

    monkeypatch.setattr(notifications, "tell_parties", tell)


def test_removing_a_clearance_that_crashes_midway_leaves_nothing_half_done(
    monkeypatch, two_held, requester, admin_user, now
):
    dbs = Clearance.objects.get(person=requester, kind="dbs")
    events = AuditEvent.objects.count()
    crash_on_second_cancellation(monkeypatch)
    with pytest.raises(Crash):
        services.remove_clearance(actor=admin_user, clearance=dbs, now=now)
    assert Clearance.objects.filter(person=requester, kind="dbs").exists()
    assert [Booking.objects.get(pk=b.pk).status for b in two_held] == ["pending", "pending"]
    assert AuditEvent.objects.count() == events


def test_removing_a_clearance_cancels_what_it_covered_in_the_same_change(two_held, requester, admin_user, now):
    services.remove_clearance(actor=admin_user, clearance=Clearance.objects.get(person=requester, kind="dbs"), now=now)
    assert [Booking.objects.get(pk=b.pk).cancel_reason for b in two_held] == ["clearance_lapsed"] * 2


def test_a_suspension_that_crashes_midway_leaves_the_station_open(monkeypatch, two_held, station, lead, now):
    crash_on_second_cancellation(monkeypatch)
    with pytest.raises(Crash):
        services.suspend_station(
            station_id=station.pk,
            actor=lead,
            until=local(2026, 11, 1),
            reason="Vehicle checks",
            cancel_bookings=True,
            now=now,
        )
    assert Station.objects.get(pk=station.pk).suspended_until is None
    assert [Booking.objects.get(pk=b.pk).status for b in two_held] == ["pending", "pending"]


def test_a_date_of_birth_change_that_crashes_midway_changes_nothing(monkeypatch, two_held, requester, admin_user, now):
    crash_on_second_cancellation(monkeypatch)
    with pytest.raises(Crash):
        services.update_person(person=requester, actor=admin_user, now=now, date_of_birth=date(2012, 1, 1))
    requester.profile.refresh_from_db()
    assert requester.profile.date_of_birth is None
    assert [Booking.objects.get(pk=b.pk).status for b in two_held] == ["pending", "pending"]


def test_a_standing_consent_that_crashes_midway_gives_no_consent(
    monkeypatch, requester, mentor, paramedic, night, book, now
):
    first, second = book(requester, night), book(mentor, night)
    real = services.bookings.settle
    calls = []

    def settle(booking, **kwargs):
        calls.append(booking.pk)
        if len(calls) == 2:
            raise Crash
        return real(booking, **kwargs)

    monkeypatch.setattr("scheduling.services.bookings.settle", settle)
    with pytest.raises(Crash):
        services.set_consent_preference(person=paramedic, preference="always", now=now)
    paramedic.profile.refresh_from_db()
    assert paramedic.profile.consent_preference == "ask"
    assert {
        c.state for b in (first, second) for c in Booking.objects.get(pk=b.pk).consents.filter(person=paramedic)
    } == {"pending"}
