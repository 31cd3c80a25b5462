"""The booking life cycle of SPEC §4 and §5.1: every write to a booking goes through here."""

from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import IntegrityError
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext as _

from .. import access, notifications, rules
from ..errors import (
    ConflictOfInterest,
    Forbidden,
    Invalid,
    InvalidTransition,
    NotFound,
    RuleViolation,
    raise_if_any,
)
from ..models import (
    HELD_STATUSES,
    LIVE_STATUSES,
    Booking,
    BookingStatus,
    Consent,
    ConsentPreference,
    ConsentSource,
    ConsentState,
    CrewMember,
    Outcome,
    Place,
    PlaceState,
    Shift,
    display_name,
)
from .base import (
    ensure_transition,
    lock_booking,
    lock_persons,
    lock_shift,
    may_become,
    move_booking,
    record_event,
    record_step,
    recount_held,
    remember_related,
    touch,
    write_transaction,
)

User = get_user_model()

MAX_PURPOSE = 2000


def _observers(booking: Booking) -> list:
    return [p.person for p in booking.places.select_related("person__profile").exclude(state=PlaceState.RELEASED)]


def consent_summary(consents) -> str:
    """`declined` if anyone declined or withdrew, `given` once everyone has, else `pending`."""
    states = [c.state for c in consents]
    if any(s in (ConsentState.DECLINED, ConsentState.WITHDRAWN) for s in states):
        return ConsentState.DECLINED
    if all(s == ConsentState.GIVEN for s in states):
        return ConsentState.GIVEN
    return ConsentState.PENDING


def ask_crew(booking: Booking, crew: list[CrewMember], now: datetime, *, new: bool = False) -> list[Consent]:
    """Create a consent per crew member not yet asked; `always` gives it at once (SPEC §4).

    Returns the consents created; `new` says the booking was just made, so nobody has been asked yet.
    """
    asked = set() if new else set(booking.consents.values_list("person_id", flat=True))
    rows = []
    for member in crew:
        if member.person_id in asked:
            continue
        always = member.person.profile.consent_preference == ConsentPreference.ALWAYS
        rows.append(
            Consent(
                booking=booking,
                person=member.person,
                state=ConsentState.GIVEN if always else ConsentState.PENDING,
                source=ConsentSource.PREFERENCE if always else "",
                at=now if always else None,
            )
        )
    return Consent.objects.bulk_create(rows)


def paperwork_outstanding(booking: Booking) -> list[tuple[int, str]]:
    """(observer id, kind) of the documents its observers holding places must still sign online (SPEC §19).

    The one answer for the services, the API and the pages. A listing that prefetched the observers' online
    clearances (`access.bookings_for_listing`) is answered from them, without a query per booking.
    """
    if booking.status not in HELD_STATUSES:
        return []
    if hasattr(booking, "paperwork_missing_now"):
        # Just made: the service worked it out under its locks.
        return booking.paperwork_missing_now
    cached = getattr(booking, "_prefetched_objects_cache", {}).get("places")
    if cached is not None:
        held = [p for p in cached if p.state == PlaceState.HELD]
        if all("clearances" in getattr(p.person, "_prefetched_objects_cache", {}) for p in held):
            clearances = [c for p in held for c in p.person.clearances.all()]
            return rules.paperwork_missing(booking.shift, [p.person for p in held], clearances)
    observers = [p.person for p in booking.places.select_related("person") if p.state == PlaceState.HELD]
    return rules.paperwork_missing(booking.shift, observers)


def settle(booking: Booking, *, actor, now: datetime, by_crew: bool = False) -> None:
    """Approve a pending booking once the lead has approved and every crew member has consented.

    `by_crew`: a crew member's answer completed it, so who did stays private (SPEC §13).
    """
    if booking.status != BookingStatus.PENDING or not booking.lead_approved:
        return
    if consent_summary(booking.consents.all()) != "given":
        return
    if paperwork_outstanding(booking):
        # The third gate (SPEC §19): an observer still has a document to sign online.
        return
    move_booking(booking, to=BookingStatus.APPROVED, actor=actor, action="approved", now=now, actor_private=by_crew)
    notifications.tell_parties(booking, "approved", now=now)
    # The crew host them: they hear who is coming and why, standing consents included (SPEC §8).
    notifications.tell_crew(booking, "crew_confirmed", now=now)


def end_booking(
    booking: Booking,
    *,
    to: str,
    actor,
    action: str,
    code: str,
    note: str = "",
    now: datetime,
    tell: str = "cancelled",
    told_note: str | None = None,
    actor_private: bool = False,
    promote: bool = True,
) -> None:
    """End a booking (declined, cancelled or expired): one path for every way a booking ends.

    Moves it and its places, writes the audit event, tells the requester and observers (`tell`), and
    when seats were held, offers them to the waiting lists (SPEC §5 Waitlist) — unless the caller
    (a shift change) promotes once itself when it is done. Runs under the caller's locks, in its transaction.
    """
    freed = booking.status in HELD_STATUSES
    was_confirmed = booking.status == BookingStatus.APPROVED
    move_booking(booking, to=to, actor=actor, action=action, now=now, code=code, note=note, actor_private=actor_private)
    if was_confirmed and to == BookingStatus.CANCELLED:
        # The crew were told the observers are coming; now they are told they are not (SPEC §8).
        notifications.tell_crew(booking, "crew_cancelled", now=now)
    if booking.from_request_id is None or code != "crew_declined":
        # A placed request's decline is told as "being placed again", naming no shift (SPEC §17).
        notifications.tell_parties(booking, tell, now=now, note=note if told_note is None else told_note)
    if freed and promote:
        promote_waitlist(booking.shift, now=now)
    if booking.from_request_id is not None:
        # A placed request follows its booking (SPEC §17): open again after a crew decline, else closed.
        for follow in BOOKING_ENDED:
            follow(booking, now=now)


# What else follows a booking's end. services/requests.py adds the open requests' follower here, so that
# this module need not import the one built on it.
BOOKING_ENDED: list = []


def _validate_request(requested_by, observer_ids, purpose: str) -> tuple[dict[str, list[str]], list]:
    """Check the request's own shape; returns what is wrong, by field, and the observers.

    The shift is checked where it is read: under its lock (`_shift_problems`).
    """
    fields: dict[str, list[str]] = {}
    if not isinstance(purpose, str) or not purpose.strip():
        fields["purpose"] = [gettext("Say what the observers hope to learn; the crew and lead read this.")]
    elif len(purpose) > MAX_PURPOSE:
        fields["purpose"] = [gettext("Keep the purpose to %(n)s characters or fewer.") % {"n": MAX_PURPOSE}]
    if observer_ids is None or observer_ids == [requested_by.pk]:
        # The usual request: the requester observes, and they are signed in, so active.
        return fields, [requested_by]
    observers = []
    if not observer_ids:
        fields["observers"] = [gettext("Name at least one observer.")]
    elif len(set(observer_ids)) != len(observer_ids):
        fields["observers"] = [gettext("Name each observer once.")]
    else:
        people = User.objects.select_related("profile").filter(pk__in=observer_ids, is_active=True)
        found = {u.pk: u for u in people}
        missing = [i for i in observer_ids if i not in found]
        if missing:
            fields["observers"] = [gettext("No active person has id %(id)s.") % {"id": missing[0]}]
        observers = [found[i] for i in observer_ids if i in found]
    return fields, observers


def _shift_problems(seats: int | None, observers: list) -> dict[str, list[str]]:
    """What is wrong with asking for these observers on a shift with `seats` (None: no such shift)."""
    if seats is None:
        return {"shift": [gettext("No shift has that id.")]}
    if seats and len(observers) > seats:
        return {
            "observers": [
                ngettext(
                    "This shift has %(n)s observer seat; name fewer observers.",
                    "This shift has %(n)s observer seats; name fewer observers.",
                    seats,
                )
                % {"n": seats}
            ]
        }
    return {}


def hold_new_booking(
    shift: Shift,
    crew: list[CrewMember],
    *,
    requested_by,
    observers: list,
    purpose: str,
    allow_waitlist: bool,
    fits: bool,
    actor,
    now: datetime,
    placed_by=None,
    from_request=None,
) -> Booking:
    """Write a new booking whose rules passed, under the caller's `lock_shift`: pending if it `fits`, else
    waitlisted; its places, the shift's counter, the crew's consents, its event and its e-mails.

    `placed_by`: the lead who chose the shift for an open request (§17), whose approval comes with it
    (None with `from_request` set: the system placed it).
    """
    status = BookingStatus.PENDING if fits else BookingStatus.WAITLISTED
    booking = Booking.objects.create(
        shift=shift,
        requested_by=requested_by,
        purpose=purpose.strip(),
        allow_waitlist=allow_waitlist,
        status=status,
        lead_approved=from_request is not None,
        lead_approved_by=placed_by,
        from_request=from_request,
        created_at=now,
        updated_at=now,
        status_changed_at=now,
    )
    places = Place.objects.bulk_create(
        [
            Place(
                booking=booking,
                person=o,
                shift=shift,
                starts_at=shift.starts_at,
                ends_at=shift.ends_at,
                state=PlaceState.HELD if fits else PlaceState.WAITLISTED,
            )
            for o in observers
        ]
    )
    if fits:
        # Under the shift's lock the counter is exact: add the places just held.
        shift.held_seats += len(places)
        Shift.objects.filter(pk=shift.pk).update(held_seats=shift.held_seats)
    consents = ask_crew(booking, crew, now, new=True)
    remember_related(booking, places=places, consents=consents)
    record_event(booking=booking, actor=actor, action="requested", now=now, to_status=status)
    if from_request is not None:
        record_step(booking, actor=placed_by, action="placed", now=now)
    if fits:
        notifications.ask_station(booking, now=now, consents=consents)
    else:
        notifications.tell_parties(booking, "waitlisted", now=now)
    missing = rules.paperwork_missing(shift, observers)
    # Kept for the answer, which shows the gate (SPEC §19) without reading the clearances again.
    booking.paperwork_missing_now = missing if fits else []
    unsigned = {person_id for person_id, _kind in missing}
    if unsigned:
        # Each observer with a document to sign is sent to "My paperwork" (SPEC §19).
        notifications.queue(booking, "paperwork_needed", [o for o in observers if o.pk in unsigned], now=now)
    return booking


def request_booking(
    *,
    actor,
    shift_id: int,
    observer_ids: list[int] | None = None,
    purpose: str,
    allow_waitlist: bool = True,
    now: datetime,
) -> Booking:
    """Ask for places on a shift: pending if they fit, waitlisted (or `no_seats`) if not."""
    if not actor.profile.is_requester:
        raise Forbidden(gettext("Only requesters can ask for ride-alongs."))
    fields, observers = _validate_request(actor, observer_ids, purpose)
    if fields:
        # Say all that is wrong at once, the shift included.
        seats = Shift.objects.filter(pk=shift_id).values_list("observer_seats", flat=True).first()
        raise Invalid(
            gettext("Some of the request is not valid."), fields={**_shift_problems(seats, observers), **fields}
        )
    try:
        with write_transaction():
            try:
                shift = lock_shift(shift_id, extra_person_ids=[o.pk for o in observers])
            except NotFound:
                raise Invalid(
                    gettext("Some of the request is not valid."), fields=_shift_problems(None, observers)
                ) from None
            fields = _shift_problems(shift.observer_seats, observers)
            if fields:
                raise Invalid(gettext("Some of the request is not valid."), fields=fields)
            crew = rules.active_crew(shift)
            broken = rules.check_booking(shift=shift, observers=observers, now=now, new_request=True, crew=crew)
            raise_if_any(access.rule_as_seen_by(actor, shift.station_id, broken))
            fits = rules.free_capacity(shift, held=shift.held_seats) >= len(observers)
            if not fits and not allow_waitlist:
                raise rules.no_seats()
            booking = hold_new_booking(
                shift,
                crew,
                requested_by=actor,
                observers=observers,
                purpose=purpose,
                allow_waitlist=allow_waitlist,
                fits=fits,
                actor=actor,
                now=now,
            )
    except IntegrityError as error:
        # The database's own guards (one live place per shift, no overlapping held places) caught a race.
        if "one_live_place_per_observer_per_shift" in str(error) or "UNIQUE" in str(error).upper():
            raise RuleViolation(
                gettext("An observer already has a booking on this shift."), code="duplicate_booking"
            ) from error
        raise RuleViolation(
            gettext("An observer already has a place at that time."), code="observer_overlap"
        ) from error
    return booking


def _ensure_not_started(booking: Booking, now: datetime) -> None:
    raise_if_any(rules.check_not_started(booking.shift, now))


def _ensure_deciding_lead(booking: Booking, lead) -> None:
    """access.may_decide is the rule; this says which part of it failed."""
    if access.may_decide(lead, booking):
        return
    if not access.leads_or_admin(lead, booking.shift.station_id):
        raise Forbidden(gettext("Only the station's leads can approve or decline bookings."))
    raise ConflictOfInterest()


def approve_booking(*, booking_id: int, actor, now: datetime) -> Booking:
    """Record the lead's approval; the booking is approved once every crew member has consented too."""
    with write_transaction():
        booking = lock_booking(booking_id)
        _ensure_deciding_lead(booking, actor)
        ensure_transition(
            booking,
            BookingStatus.APPROVED,
            gettext("Only a pending booking can be approved; this one is %(state)s.")
            % {"state": booking.get_status_display().lower()},
        )
        if booking.lead_approved:
            raise InvalidTransition(gettext("This booking already has a lead's approval."))
        raise_if_any(
            rules.check_booking(
                shift=booking.shift, observers=_observers(booking), now=now, new_request=False, exclude_booking=booking
            )
        )
        booking.lead_approved = True
        booking.lead_approved_by = actor
        booking.updated_at = now
        booking.save(update_fields=["lead_approved", "lead_approved_by", "updated_at"])
        record_step(
            booking,
            actor=actor,
            action="lead_approved",
            now=now,
        )
        settle(booking, actor=actor, now=now)
    return booking


def decline_booking(*, booking_id: int, actor, reason: str, now: datetime) -> Booking:
    """The lead says no, with a reason the requester will read."""
    if not isinstance(reason, str) or not reason.strip():
        raise Invalid(
            gettext("Give a reason for declining."), fields={"reason": [gettext("Give a reason for declining.")]}
        )
    with write_transaction():
        booking = lock_booking(booking_id)
        _ensure_deciding_lead(booking, actor)
        ensure_transition(
            booking,
            BookingStatus.DECLINED,
            gettext("A booking that is %(state)s cannot be declined; cancel it instead.")
            % {"state": booking.get_status_display().lower()},
        )
        _ensure_not_started(booking, now)
        end_booking(
            booking,
            to=BookingStatus.DECLINED,
            actor=actor,
            action="declined",
            code="lead_declined",
            note=reason.strip(),
            now=now,
            tell="declined",
        )
    return booking


def cancel_booking(*, booking_id: int, actor, reason: str = "", now: datetime) -> Booking:
    """The requester or a lead cancels the whole booking; an observer cancels only their own place."""
    reason = reason.strip() if isinstance(reason, str) else ""
    with write_transaction():
        booking = lock_booking(booking_id)
        if not access.cancels(actor, booking):
            raise Forbidden(
                gettext("Only the requester, the observers and the station's leads can cancel this booking.")
            )
        is_lead = access.leads_or_admin(actor, booking.shift.station_id)
        ensure_transition(
            booking,
            BookingStatus.CANCELLED,
            gettext("This booking is already %(state)s.") % {"state": booking.get_status_display().lower()},
        )
        _ensure_not_started(booking, now)
        if booking.requested_by_id == actor.pk:
            code = "requester_cancelled"
        elif is_lead:
            if not reason:
                raise Invalid(
                    gettext("Give a reason for cancelling."), fields={"reason": [gettext("A lead must give a reason.")]}
                )
            code = "lead_cancelled"
        else:
            own_place = booking.places.exclude(state=PlaceState.RELEASED).get(person=actor)
            _cancel_place(booking, own_place, actor=actor, note=reason, now=now)
            return booking
        end_booking(
            booking, to=BookingStatus.CANCELLED, actor=actor, action="cancelled", code=code, note=reason, now=now
        )
    return booking


def _cancel_place(booking: Booking, place: Place, *, actor, note: str, now: datetime) -> None:
    """An observer leaves; the booking ends with its last observer."""
    if not booking.places.exclude(state=PlaceState.RELEASED).exclude(pk=place.pk).exists():
        end_booking(
            booking,
            to=BookingStatus.CANCELLED,
            actor=actor,
            action="cancelled",
            code="observer_cancelled",
            note=note,
            now=now,
        )
        return
    freed = booking.status in HELD_STATUSES
    place.state = PlaceState.RELEASED
    place.cancelled_by_observer = True
    place.save(update_fields=["state", "cancelled_by_observer"])
    recount_held(booking.shift_id)
    touch(booking, now)
    record_step(
        booking,
        actor=actor,
        action="place_cancelled",
        now=now,
        note=note,
    )
    # The requester and the observers still coming are told who left (SPEC §8).
    staying = [p.person for p in booking.places.select_related("person__profile").exclude(state=PlaceState.RELEASED)]
    notifications.queue(
        booking,
        "observer_left",
        [booking.requested_by, *staying],
        now=now,
        note=display_name(actor),
    )
    if freed:
        promote_waitlist(booking.shift, now=now)


def _crew_consent(booking: Booking, person) -> Consent:
    consent = booking.consents.filter(person=person).first()
    if consent is None:
        raise Forbidden(gettext("Only the crew of this shift can answer for its consent."))
    return consent


def respond_to_booking(*, booking_id: int, actor, decision: str, note: str = "", now: datetime) -> Booking:
    """A crew member gives, declines or withdraws consent (SPEC §4)."""
    handlers = {"give": give_consent, "decline": decline_consent, "withdraw": withdraw_consent}
    if decision not in handlers:
        raise Invalid(
            gettext("Choose give, decline or withdraw."),
            fields={"decision": [gettext("Choose give, decline or withdraw.")]},
        )
    return handlers[decision](booking_id=booking_id, actor=actor, note=note, now=now)


def _answer(booking_id: int, person, now: datetime, answer) -> Booking:
    """Lock, check the crew member may still answer, then apply `answer(booking, consent)`."""
    with write_transaction():
        booking = lock_booking(booking_id)
        consent = _crew_consent(booking, person)
        if booking.status not in LIVE_STATUSES:
            raise InvalidTransition(
                gettext("This booking is already %(state)s.") % {"state": booking.get_status_display().lower()}
            )
        _ensure_not_started(booking, now)
        answer(booking, consent)
    return booking


def _record(consent: Consent, state: str, now: datetime, note: str, source: str = ConsentSource.PERSON) -> None:
    consent.state, consent.source, consent.at, consent.note = state, source, now, note
    consent.save(update_fields=["state", "source", "at", "note"])


def consent_given(booking: Booking, consent: Consent, person, *, now: datetime, note: str = "", source: str) -> None:
    """Record a crew member's consent, given by them or by their standing preference, and approve the
    booking if that was the last thing missing; who gave it stays private (SPEC §13)."""
    _record(consent, ConsentState.GIVEN, now, note, source)
    if source != ConsentSource.PREFERENCE:
        # A standing consent is recorded silently (SPEC §13): the booking's history gains nothing, as when
        # the booking was made; the switch itself is in the person's own history.
        record_step(booking, actor=person, action="consent_given", now=now, actor_private=True)
    settle(booking, actor=person, now=now, by_crew=True)


def _end_by_crew(booking: Booking, person, *, to: str, code: str, note: str, now: datetime) -> None:
    """A crew member's no ends the booking; who said it, and their note, stay private (SPEC §4)."""
    action = "consent_declined" if to == BookingStatus.DECLINED else "consent_withdrawn"
    end_booking(
        booking,
        to=to,
        actor=person,
        action=action,
        code=code,
        note=note,
        now=now,
        tell=action,
        told_note="",
        actor_private=True,
    )


def give_consent(*, booking_id: int, actor, note: str = "", now: datetime) -> Booking:
    def answer(booking, consent):
        if consent.state != ConsentState.PENDING:
            raise InvalidTransition(
                gettext("Your consent is already %(state)s.") % {"state": consent.get_state_display().lower()}
            )
        consent_given(booking, consent, actor, now=now, note=note, source=ConsentSource.PERSON)

    return _answer(booking_id, actor, now, answer)


def decline_consent(*, booking_id: int, actor, note: str = "", now: datetime) -> Booking:
    """Declining when asked declines the booking; declining consent already given withdraws it."""

    def answer(booking, consent):
        if consent.state == ConsentState.GIVEN:
            _record(consent, ConsentState.WITHDRAWN, now, note)
            _end_by_crew(booking, actor, to=BookingStatus.CANCELLED, code="consent_withdrawn", note=note, now=now)
        elif consent.state == ConsentState.PENDING:
            _record(consent, ConsentState.DECLINED, now, note)
            _end_by_crew(booking, actor, to=BookingStatus.DECLINED, code="crew_declined", note=note, now=now)
        else:
            raise InvalidTransition(
                gettext("Your consent is already %(state)s.") % {"state": consent.get_state_display().lower()}
            )

    return _answer(booking_id, actor, now, answer)


def withdraw_consent(*, booking_id: int, actor, note: str = "", now: datetime) -> Booking:
    def answer(booking, consent):
        if consent.state != ConsentState.GIVEN:
            raise InvalidTransition(gettext("You can only withdraw consent you have given; decline instead."))
        _record(consent, ConsentState.WITHDRAWN, now, note)
        _end_by_crew(booking, actor, to=BookingStatus.CANCELLED, code="consent_withdrawn", note=note, now=now)

    return _answer(booking_id, actor, now, answer)


def record_outcome(*, booking_id: int, actor, outcome: str, now: datetime, left_at: datetime | None = None) -> Booking:
    """Crew or a lead say how the ride-along went, once the shift has ended; `ended_early` says when the
    observers left (`left_at`, within the shift)."""
    if outcome not in Outcome.values:
        raise Invalid(
            gettext("Choose attended, ended_early or no_show."),
            fields={"outcome": [gettext("Choose attended, ended_early or no_show.")]},
        )
    if outcome == Outcome.ENDED_EARLY and left_at is None:
        raise Invalid(_("Say when the observers left."), fields={"left_at": [_("Enter the time the observers left")]})
    if outcome != Outcome.ENDED_EARLY:
        left_at = None
    with write_transaction():
        booking = lock_booking(booking_id)
        if not access.may_record_outcome(actor, booking):
            raise Forbidden(gettext("Only the crew and the station's leads can record the outcome."))
        if booking.status != BookingStatus.APPROVED:
            raise InvalidTransition(gettext("Only an approved ride-along has an outcome."))
        if now < booking.shift.ends_at:
            raise InvalidTransition(gettext("Record the outcome once the shift has ended."))
        if left_at is not None and not booking.shift.starts_at < left_at < booking.shift.ends_at:
            raise Invalid(
                _("The observers must have left during the shift."),
                fields={"left_at": [_("Enter a time after the shift started and before it ended")]},
            )
        booking.outcome, booking.left_at = outcome, left_at
        booking.updated_at = now
        booking.save(update_fields=["outcome", "left_at", "updated_at"])
        record_step(
            booking,
            actor=actor,
            action="outcome",
            now=now,
            code=outcome,
            # Who recorded it is private when it was a crew member rather than a lead (SPEC §13).
            actor_private=not access.sees_private(actor, booking.shift.station_id),
        )
    return booking


def promote_waitlist(shift: Shift, *, now: datetime) -> list[Booking]:
    """First come, first served: promote the oldest waitlisted bookings that now fit and pass every rule.

    Runs inside the caller's transaction, which holds the locks of `lock_shift`. Under a station's
    daily cap a freed place is free for every shift of that local date, so their waiting lists are
    considered together (SPEC §5 Waitlist).
    """
    if shift.station.max_observers_per_day is None:
        if now >= shift.starts_at:
            return []
        return _promote_oldest_first({shift.pk: shift}, now=now)
    return promote_day(shift.station, shift.local_date, now=now, known=shift)


def promote_day(station, local_date, *, now: datetime, known: Shift | None = None) -> list[Booking]:
    """Promote across every shift of `station` on `local_date` that has not started.

    The caller holds the station's lock, exclusively when it caps observers per day (`lock_station`),
    so every transaction that could touch these shifts waits on it: taking the day's shifts and then
    their persons after the caller's own persons cannot deadlock.
    """
    shifts = {
        s.pk: s
        for s in Shift.objects.select_for_update(of=("self",))
        .select_related("station", "resource")
        .filter(station=station, local_date=local_date, starts_at__gt=now)
        .order_by("pk")
    }
    if known is not None and known.pk in shifts:
        shifts[known.pk] = known  # keep the caller's instance: it may carry unsaved knowledge
    if not shifts:
        return []
    return _promote_oldest_first(shifts, now=now)


def promote_station(station, *, now: datetime) -> list[Booking]:
    """Promote at every future local date of the station that has a waiting list (a cap raised, a
    suspension lifted). The caller holds the station's lock."""
    dates = (
        Booking.objects.filter(status=BookingStatus.WAITLISTED, shift__station=station, shift__starts_at__gt=now)
        .values_list("shift__local_date", flat=True)
        .distinct()
        .order_by("shift__local_date")
    )
    promoted = []
    for local_date in list(dates):
        promoted += promote_day(station, local_date, now=now)
    return promoted


def _promote_oldest_first(shifts: dict[int, Shift], *, now: datetime) -> list[Booking]:
    waiting = list(
        Booking.objects.filter(shift_id__in=list(shifts), status=BookingStatus.WAITLISTED)
        .order_by("created_at", "id")
        .select_related("requested_by")
    )
    if not waiting:
        return []
    # The waiting observers and the crew of every shift, by ascending id (SPEC §5.3).
    lock_persons(
        [
            *Place.objects.filter(booking__in=waiting)
            .exclude(state=PlaceState.RELEASED)
            .values_list("person_id", flat=True),
            *CrewMember.objects.filter(shift_id__in=list(shifts)).values_list("person_id", flat=True),
        ]
    )
    crews = {pk: rules.active_crew(s) for pk, s in shifts.items() if any(b.shift_id == pk for b in waiting)}
    promoted = []
    for booking in waiting:
        shift = booking.shift = shifts[booking.shift_id]
        observers = _observers(booking)
        if rules.free_capacity(shift) < len(observers):
            continue  # skipped, not dropped: a smaller party behind it may still fit
        if rules.check_booking(
            shift=shift,
            observers=observers,
            now=now,
            new_request=False,
            exclude_booking=booking,
            crew=crews[shift.pk],
        ):
            continue
        move_booking(booking, to=BookingStatus.PENDING, actor=None, action="promoted", now=now)
        notifications.tell_parties(booking, "promoted", now=now)
        notifications.ask_station(booking, now=now)
        settle(booking, actor=None, now=now)
        promoted.append(booking)
    return promoted


def expire_due(*, now: datetime) -> int:
    """Expire every pending or waitlisted booking whose shift has started; safe to repeat."""
    due = list(
        Booking.objects.filter(
            status__in=[BookingStatus.PENDING, BookingStatus.WAITLISTED],
            shift__starts_at__lte=now,
        ).values_list("pk", flat=True)
    )
    expired = 0
    for booking_id in due:
        with write_transaction():
            booking = lock_booking(booking_id)
            if not may_become(booking, BookingStatus.EXPIRED):
                continue  # decided some other way meanwhile
            # A shift that has started frees its day place for the day's later shifts.
            end_booking(
                booking, to=BookingStatus.EXPIRED, actor=None, action="expired", code="", now=now, tell="expired"
            )
            expired += 1
    return expired
