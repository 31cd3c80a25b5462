"""Every transition of SPEC §4 and §5.1, built through the services."""

from datetime import timedelta

import pytest

from scheduling import services
from scheduling.errors import ConflictOfInterest, Forbidden, Invalid, InvalidTransition, RuleViolation
from scheduling.models import AuditEvent, Booking, BookingStatus, Notification, Place
from tests.factories import local, make_person


def statuses(booking):
    return list(booking.events.values_list("action", "to_status"))


def test_request_asks_the_paramedic_and_applies_the_technicians_standing_consent(
    requester, mentor, night, paramedic, technician, lead, book
):
    booking = book(requester, night, [requester, mentor])
    assert booking.status == BookingStatus.PENDING
    consents = {c.person_id: (c.state, c.source) for c in booking.consents.all()}
    assert consents == {paramedic.pk: ("pending", ""), technician.pk: ("given", "preference")}
    told = set(Notification.objects.filter(booking=booking).values_list("recipient_id", "kind"))
    assert told == {(lead.pk, "requested"), (paramedic.pk, "consent_requested")}


def test_approval_after_consents(requester, night, paramedic, lead, book, now):
    booking = book(requester, night)
    services.give_consent(booking_id=booking.pk, actor=paramedic, now=now)
    booking = services.approve_booking(booking_id=booking.pk, actor=lead, now=now)
    assert booking.status == BookingStatus.APPROVED
    assert booking.lead_approved


def test_approval_before_consents_waits_for_the_crew(requester, night, paramedic, lead, book, now):
    booking = book(requester, night)
    booking = services.approve_booking(booking_id=booking.pk, actor=lead, now=now)
    assert booking.status == BookingStatus.PENDING and booking.lead_approved
    booking = services.give_consent(booking_id=booking.pk, actor=paramedic, now=now)
    assert booking.status == BookingStatus.APPROVED
    assert ("approved", "approved") in statuses(booking)


def test_approving_twice_is_an_invalid_transition(requester, night, lead, book, now):
    booking = book(requester, night)
    services.approve_booking(booking_id=booking.pk, actor=lead, now=now)
    with pytest.raises(InvalidTransition):
        services.approve_booking(booking_id=booking.pk, actor=lead, now=now)


def test_only_the_stations_lead_approves_and_not_a_booking_they_observe(requester, night, lead, outsider, book, now):
    booking = book(requester, night)
    with pytest.raises(Forbidden):
        services.approve_booking(booking_id=booking.pk, actor=outsider, now=now)
    for kind in ("dbs", "confidentiality", "briefing"):
        services.add_clearance(
            actor=make_person(staff=True, cleared=False),
            person=lead,
            kind=kind,
            valid_from=now.date(),
            valid_until=None,
            now=now,
        )
    observed = book(requester, night.__class__.objects.get(pk=night.pk), [lead])
    with pytest.raises(ConflictOfInterest):
        services.approve_booking(booking_id=observed.pk, actor=lead, now=now)


def test_lead_decline_needs_a_reason_and_frees_both_seats_of_a_party(requester, mentor, night, lead, book, now):
    party = book(requester, night, [requester, mentor])
    waiting = book(make_person("w", requester=True), night)
    assert waiting.status == BookingStatus.WAITLISTED
    with pytest.raises(Invalid):
        services.decline_booking(booking_id=party.pk, actor=lead, reason=" ", now=now)
    party = services.decline_booking(booking_id=party.pk, actor=lead, reason="Crew training night", now=now)
    assert party.status == BookingStatus.DECLINED
    assert not Place.objects.filter(booking=party, state="held").exists()
    waiting.refresh_from_db()
    assert waiting.status == BookingStatus.PENDING


def test_crew_decline_declines_the_booking(requester, night, paramedic, book, now):
    booking = book(requester, night)
    booking = services.decline_consent(booking_id=booking.pk, actor=paramedic, note="Student on board", now=now)
    assert (booking.status, booking.cancel_reason) == ("declined", "crew_declined")
    event = booking.events.last()
    assert event.actor_id == paramedic.pk and event.actor_private


def test_withdrawn_consent_cancels_even_an_approved_booking(requester, night, paramedic, lead, book, now):
    booking = book(requester, night)
    services.give_consent(booking_id=booking.pk, actor=paramedic, now=now)
    services.approve_booking(booking_id=booking.pk, actor=lead, now=now)
    booking = services.withdraw_consent(booking_id=booking.pk, actor=paramedic, now=now)
    assert (booking.status, booking.cancel_reason) == ("cancelled", "consent_withdrawn")


def test_withdrawing_after_the_shift_started_changes_nothing(requester, night, paramedic, book, now):
    booking = book(requester, night)
    services.give_consent(booking_id=booking.pk, actor=paramedic, now=now)
    with pytest.raises(RuleViolation) as caught:
        services.withdraw_consent(booking_id=booking.pk, actor=paramedic, now=night.starts_at)
    assert caught.value.code == "shift_started"


def test_only_crew_of_the_shift_can_consent(requester, night, outsider, book, now):
    booking = book(requester, night)
    with pytest.raises(Forbidden):
        services.give_consent(booking_id=booking.pk, actor=outsider, now=now)


def test_observer_cancels_own_place_and_the_party_continues(requester, mentor, night, book, now):
    party = book(requester, night, [requester, mentor])
    waiting = book(make_person("w", requester=True), night)
    party = services.cancel_booking(booking_id=party.pk, actor=mentor, now=now)
    assert party.status == BookingStatus.PENDING
    assert list(party.places.exclude(state="released").values_list("person_id", flat=True)) == [requester.pk]
    assert party.revision == 2
    waiting.refresh_from_db()
    assert waiting.status == BookingStatus.PENDING


def test_last_observer_leaving_cancels_the_booking(requester, mentor, night, book, now):
    booking = book(requester, night, [mentor])
    booking = services.cancel_booking(booking_id=booking.pk, actor=mentor, now=now)
    assert booking.status == BookingStatus.CANCELLED


def test_requester_cancels_whole_booking_and_lead_must_give_reason(requester, mentor, night, lead, book, now):
    booking = book(requester, night, [requester, mentor])
    with pytest.raises(Invalid):
        services.cancel_booking(booking_id=booking.pk, actor=lead, now=now)
    booking = services.cancel_booking(booking_id=booking.pk, actor=requester, now=now)
    assert booking.status == BookingStatus.CANCELLED
    with pytest.raises(InvalidTransition):
        services.cancel_booking(booking_id=booking.pk, actor=requester, now=now)


def test_outsider_cannot_cancel(requester, night, outsider, book, now):
    booking = book(requester, night)
    with pytest.raises(Forbidden):
        services.cancel_booking(booking_id=booking.pk, actor=outsider, now=now)


def test_new_crew_member_sends_approved_booking_back_to_pending_keeping_seats(
    requester, mentor, night, paramedic, technician, lead, book, now
):
    booking = book(requester, night, [requester, mentor])
    services.give_consent(booking_id=booking.pk, actor=paramedic, now=now)
    services.approve_booking(booking_id=booking.pk, actor=lead, now=now)
    newcomer = make_person("nina", cleared=False)
    crew = [(paramedic.pk, "paramedic"), (technician.pk, "technician"), (newcomer.pk, "emt")]
    services.apply_shift_change(shift_id=night.pk, actor=lead, change=services.ShiftChange(crew=crew), now=now)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.PENDING and booking.lead_approved
    assert Place.objects.filter(booking=booking, state="held").count() == 2
    booking = services.give_consent(booking_id=booking.pk, actor=newcomer, now=now)
    assert booking.status == BookingStatus.APPROVED


def test_leaver_consent_is_dropped_and_can_complete_approval(requester, night, paramedic, technician, lead, book, now):
    booking = book(requester, night)
    services.approve_booking(booking_id=booking.pk, actor=lead, now=now)
    services.apply_shift_change(
        shift_id=night.pk, actor=lead, change=services.ShiftChange(crew=[(technician.pk, "technician")]), now=now
    )
    booking.refresh_from_db()
    assert booking.status == BookingStatus.APPROVED
    assert list(booking.consents.values_list("person_id", flat=True)) == [technician.pk]


def test_waitlist_promotes_in_order_skipping_what_does_not_fit(requester, mentor, night, lead, book, now):
    first = book(make_person("a", requester=True), night)
    second = book(make_person("b", requester=True), night)
    party = book(requester, night, [requester, mentor], at=now + timedelta(minutes=1))
    small = book(make_person("c", requester=True), night, at=now + timedelta(minutes=2))
    assert [party.status, small.status] == ["waitlisted", "waitlisted"]
    services.cancel_booking(booking_id=first.pk, actor=first.requested_by, now=now)
    party.refresh_from_db()
    small.refresh_from_db()
    # The party of two does not fit one free seat: skipped, not dropped; the single behind it goes up.
    assert (party.status, small.status) == ("waitlisted", "pending")
    services.cancel_booking(booking_id=second.pk, actor=second.requested_by, now=now)
    services.cancel_booking(booking_id=small.pk, actor=small.requested_by, now=now)
    party.refresh_from_db()
    assert party.status == BookingStatus.PENDING


def test_reduced_seats_send_newest_back_to_waitlist_and_raised_seats_promote(requester, mentor, night, lead, book, now):
    older = book(requester, night)
    newer = book(mentor, night, at=now + timedelta(minutes=1))
    services.apply_shift_change(shift_id=night.pk, actor=lead, change=services.ShiftChange(observer_seats=1), now=now)
    older.refresh_from_db()
    newer.refresh_from_db()
    assert (older.status, newer.status, newer.cancel_reason) == ("pending", "waitlisted", "seats_reduced")
    services.apply_shift_change(shift_id=night.pk, actor=lead, change=services.ShiftChange(observer_seats=2), now=now)
    newer.refresh_from_db()
    assert newer.status == BookingStatus.PENDING


def test_retime_keeps_bookings_that_still_pass_and_bumps_revision(requester, night, lead, book, now):
    booking = book(requester, night)
    change = services.ShiftChange(
        starts_at=night.starts_at + timedelta(hours=1), ends_at=night.ends_at + timedelta(hours=1)
    )
    services.apply_shift_change(shift_id=night.pk, actor=lead, change=change, now=now)
    booking.refresh_from_db()
    assert (booking.status, booking.revision) == ("pending", 2)
    assert booking.places.get().starts_at == night.starts_at + timedelta(hours=1)


def test_retime_cancels_bookings_that_now_break_a_rule(requester, night, lead, resource, book, now):
    from tests.factories import make_resource, make_shift, make_station

    other = make_shift(make_resource(make_station()), local(2026, 10, 11, 8), local(2026, 10, 11, 18), now=now)
    moved = book(requester, night)
    book(requester, other)
    change = services.ShiftChange(ends_at=local(2026, 10, 11, 9))
    services.apply_shift_change(shift_id=night.pk, actor=lead, change=change, now=now)
    moved.refresh_from_db()
    assert (moved.status, moved.cancel_reason) == ("cancelled", "shift_changed")
    assert moved.events.last().note.startswith("observer_overlap")


def test_unchanged_shift_change_writes_nothing(requester, night, lead, book, now):
    booking = book(requester, night)
    _, changed = services.apply_shift_change(
        shift_id=night.pk, actor=lead, change=services.ShiftChange(starts_at=night.starts_at), now=now
    )
    booking.refresh_from_db()
    assert not changed and booking.revision == 1


def test_cancelled_shift_cancels_held_and_waitlisted(requester, mentor, night, lead, book, now):
    held = book(requester, night, [requester, mentor])
    waiting = book(make_person("w", requester=True), night)
    services.apply_shift_change(shift_id=night.pk, actor=lead, change=services.ShiftChange(status="cancelled"), now=now)
    for booking in (held, waiting):
        booking.refresh_from_db()
        assert (booking.status, booking.cancel_reason) == ("cancelled", "shift_cancelled")


def test_expiry_of_pending_and_waitlisted_at_shift_start(requester, mentor, night, book, now):
    pending = book(requester, night, [requester, mentor])
    waiting = book(make_person("w", requester=True), night)
    assert services.expire_due(now=night.starts_at) == 2
    assert services.expire_due(now=night.starts_at) == 0
    for booking in (pending, waiting):
        booking.refresh_from_db()
        assert booking.status == BookingStatus.EXPIRED


def test_outcome_only_after_the_shift_ends(requester, night, paramedic, lead, book, now):
    booking = book(requester, night)
    services.give_consent(booking_id=booking.pk, actor=paramedic, now=now)
    services.approve_booking(booking_id=booking.pk, actor=lead, now=now)
    with pytest.raises(InvalidTransition):
        services.record_outcome(
            booking_id=booking.pk, actor=paramedic, outcome="attended", now=night.ends_at - timedelta(minutes=1)
        )
    booking = services.record_outcome(booking_id=booking.pk, actor=paramedic, outcome="attended", now=night.ends_at)
    assert booking.outcome == "attended"


def test_removing_a_clearance_cancels_bookings_it_no_longer_covers(requester, night, lead, book, now):
    booking = book(requester, night)
    dbs = requester.clearances.get(kind="dbs")
    services.remove_clearance(actor=lead, clearance=dbs, now=now)
    booking.refresh_from_db()
    assert (booking.status, booking.cancel_reason) == ("cancelled", "clearance_lapsed")


def test_suspension_can_cancel_bookings_before_its_end(requester, night, lead, station, book, now):
    booking = book(requester, night)
    services.suspend_station(
        station_id=station.pk, actor=lead, until=night.ends_at, reason="Flooding", cancel_bookings=True, now=now
    )
    booking.refresh_from_db()
    assert (booking.status, booking.cancel_reason) == ("cancelled", "station_suspended")
    services.lift_suspension(station_id=station.pk, actor=lead, now=now)
    station.refresh_from_db()
    assert station.suspended_until is None


def test_preference_always_gives_waiting_consents(requester, night, paramedic, lead, book, now):
    booking = book(requester, night)
    services.approve_booking(booking_id=booking.pk, actor=lead, now=now)
    services.set_consent_preference(person=paramedic, preference="always", now=now)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.APPROVED


def test_audit_events_cannot_be_changed_or_deleted(requester, night, book):
    booking = book(requester, night)
    event = booking.events.get()
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.update(note="x")


def test_invalid_requests_write_nothing(requester, outsider, night, now):
    with pytest.raises(Invalid) as caught:
        services.request_booking(
            actor=requester, shift_id=night.pk, observer_ids=[requester.pk, 99999], purpose="", now=now
        )
    assert set(caught.value.fields) == {"purpose", "observers"}
    with pytest.raises(Forbidden):
        services.request_booking(actor=outsider, shift_id=night.pk, purpose="x", now=now)
    assert not Booking.objects.exists()
