"""Races on PostgreSQL with real row locks (SPEC §5.3); each thread has its own connection."""

import threading
from datetime import UTC, datetime

import psycopg
import pytest
from django.conf import settings
from django.db import connection, connections

from scheduling import services
from scheduling.errors import BookingError, Busy
from scheduling.models import AuditEvent, Booking, Place
from tests.factories import local, make_person, make_resource, make_shift, make_station

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
        reason="row-lock races need PostgreSQL: run with DATABASE_URL=postgres://postgres@127.0.0.1:5432/ridealong",
    ),
]

NOW = datetime(2026, 10, 1, 12, tzinfo=UTC)


def race(calls):
    """Run every call at once, each on its own thread and connection; return results or errors."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait()
            results[i] = call()
        except BookingError as error:
            results[i] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def booker(person, shift, observers=None, allow_waitlist=True):
    return lambda: services.request_booking(
        actor=person,
        shift_id=shift.pk,
        observer_ids=observers,
        purpose="Race",
        allow_waitlist=allow_waitlist,
        now=NOW,
    )


@pytest.mark.parametrize("round_", range(3))
def test_last_seat_goes_to_exactly_one_of_twenty_racing_requests(round_):
    shift = make_shift(make_resource(make_station(), seats=1), local(2026, 10, 20, 19), local(2026, 10, 21, 7), now=NOW)
    people = [make_person(requester=True) for _ in range(20)]
    results = race([booker(p, shift, allow_waitlist=i % 2 == 0) for i, p in enumerate(people)])
    assert Place.objects.filter(shift=shift, state="held").count() == 1
    outcomes = sorted(r.status if isinstance(r, Booking) else r.code for r in results)
    assert outcomes.count("pending") == 1
    assert set(outcomes) <= {"pending", "waitlisted", "no_seats"}


@pytest.mark.parametrize("round_", range(3))
def test_one_observer_never_holds_two_overlapping_places(round_):
    observer = make_person(requester=True)
    a = make_shift(make_resource(make_station()), local(2026, 10, 20, 19), local(2026, 10, 21, 7), now=NOW)
    b = make_shift(make_resource(make_station()), local(2026, 10, 21, 6), local(2026, 10, 21, 18), now=NOW)
    requesters = [make_person(requester=True) for _ in range(10)]
    race([booker(r, a if i % 2 else b, [observer.pk]) for i, r in enumerate(requesters)])
    assert Place.objects.filter(person=observer, state="held").count() == 1


@pytest.mark.parametrize("round_", range(3))
def test_party_and_singles_never_exceed_two_seats(round_):
    shift = make_shift(make_resource(make_station(), seats=2), local(2026, 10, 20, 19), local(2026, 10, 21, 7), now=NOW)
    lead_of_party, partner = make_person(requester=True), make_person(requester=True)
    singles = [make_person(requester=True) for _ in range(8)]
    calls = [booker(lead_of_party, shift, [lead_of_party.pk, partner.pk])] + [booker(s, shift) for s in singles]
    race(calls)
    assert Place.objects.filter(shift=shift, state="held").count() == 2


@pytest.mark.parametrize("round_", range(3))
def test_approval_racing_a_withdrawal_ends_in_an_allowed_state_with_a_matching_trail(round_):
    lead = make_person(cleared=False)
    medic = make_person(cleared=False)
    station = make_station(leads=[lead])
    shift = make_shift(
        make_resource(station), local(2026, 10, 20, 19), local(2026, 10, 21, 7), crew=[(medic, "paramedic")], now=NOW
    )
    requester = make_person(requester=True)
    booking = services.request_booking(actor=requester, shift_id=shift.pk, purpose="Race", now=NOW)
    services.give_consent(booking_id=booking.pk, actor=medic, now=NOW)
    race(
        [
            lambda: services.approve_booking(booking_id=booking.pk, actor=lead, now=NOW),
            lambda: services.withdraw_consent(booking_id=booking.pk, actor=medic, now=NOW),
        ]
    )
    booking.refresh_from_db()
    assert (booking.status, booking.cancel_reason) == ("cancelled", "consent_withdrawn")
    trail = list(AuditEvent.objects.filter(booking=booking).order_by("id"))
    for before, after in zip(trail, trail[1:], strict=False):
        assert after.from_status == before.to_status
    assert trail[-1].to_status == booking.status


def test_lock_wait_past_the_limit_is_busy_not_a_hang(settings):
    settings.RIDEALONG_LOCK_TIMEOUT_MS = 300
    station = make_station()
    shift = make_shift(make_resource(station), local(2026, 10, 20, 19), local(2026, 10, 21, 7), now=NOW)
    person = make_person(requester=True)
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params) as holder:
        holder.execute("BEGIN")
        holder.execute("SELECT id FROM scheduling_station WHERE id = %s FOR UPDATE", [station.pk])
        with pytest.raises(Busy):
            services.request_booking(actor=person, shift_id=shift.pk, purpose="Blocked", now=NOW)
        holder.execute("ROLLBACK")
    assert not Booking.objects.exists()


def test_the_database_itself_refuses_overlapping_held_places_and_edited_audit_events():
    from django.db import DatabaseError, IntegrityError, transaction

    observer = make_person(requester=True)
    a = make_shift(make_resource(make_station()), local(2026, 10, 20, 19), local(2026, 10, 21, 7), now=NOW)
    b = make_shift(make_resource(make_station()), local(2026, 10, 21, 6), local(2026, 10, 21, 18), now=NOW)
    booking = services.request_booking(actor=observer, shift_id=a.pk, purpose="x", now=NOW)
    other = Booking.objects.create(
        shift=b,
        requested_by=observer,
        purpose="x",
        status="pending",
        created_at=NOW,
        updated_at=NOW,
        status_changed_at=NOW,
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Place.objects.create(
            booking=other, person=observer, shift=b, starts_at=b.starts_at, ends_at=b.ends_at, state="held"
        )
    with pytest.raises(DatabaseError, match="never changed"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE scheduling_auditevent SET note = 'edited' WHERE booking_id = %s", [booking.pk])
    with pytest.raises(DatabaseError, match="never changed"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM scheduling_auditevent WHERE booking_id = %s", [booking.pk])
    assert AuditEvent.objects.filter(booking=booking).count() == 1


@pytest.mark.parametrize("round_", range(3))
def test_cancellations_on_one_shift_racing_requests_on_another_never_overfill_the_day(round_):
    """SPEC §5 Waitlist: the daily cap holds, and nothing that fits is left waiting."""
    station = make_station(max_observers_per_day=3)
    first = make_shift(make_resource(station, seats=3), local(2026, 10, 20, 19), local(2026, 10, 21, 7), now=NOW)
    second = make_shift(make_resource(station, seats=3), local(2026, 10, 20, 20), local(2026, 10, 21, 6), now=NOW)
    holders = [make_person(requester=True) for _ in range(3)]
    held = [booker(p, first)() for p in holders]
    newcomers = [make_person(requester=True) for _ in range(6)]
    cancels = [
        (lambda b=b, p=p: services.cancel_booking(booking_id=b.pk, actor=p, now=NOW))
        for b, p in zip(held, holders, strict=True)
    ]
    race([*cancels, *(booker(p, second) for p in newcomers)])

    day_held = Place.objects.filter(shift__station=station, state="held").count()
    assert day_held <= 3
    waiting = Booking.objects.filter(shift__station=station, status="waitlisted").count()
    # Every cancellation freed a place: the day is full again whenever anyone is still waiting.
    assert day_held == 3 or waiting == 0
    for booking in Booking.objects.filter(shift__station=station):
        assert booking.events.order_by("-id").first().to_status == booking.status
