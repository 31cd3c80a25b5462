"""Shifts and rota changes (SPEC §2, §7): creation, retimes, cancellation, crew swaps, seat changes."""

from dataclasses import dataclass
from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.db import IntegrityError
from django.utils.translation import gettext

from .. import notifications, rules
from ..errors import Invalid
from ..models import (
    HELD_STATUSES,
    LIVE_STATUSES,
    Booking,
    BookingStatus,
    Consent,
    ConsentState,
    CrewMember,
    CrewRole,
    Place,
    PlaceState,
    Resource,
    Shift,
    ShiftStatus,
    is_night,
)
from .base import ensure_lead_or_admin, lock_persons, lock_shift, move_booking, record_step, touch, write_transaction
from .bookings import ask_crew, end_booking, promote_day, promote_waitlist, settle

User = get_user_model()

UNSET = object()


@dataclass
class ShiftChange:
    """What a rota change asks for; fields left UNSET stay as they are."""

    starts_at: object = UNSET
    ends_at: object = UNSET
    observer_seats: object = UNSET
    status: object = UNSET
    resource_id: object = UNSET
    external_ref: object = UNSET
    crew: object = UNSET  # list of (person_id, role)


def _validate_crew(crew) -> list[tuple[int, str]]:
    if not isinstance(crew, list | tuple):
        raise Invalid(gettext("Crew must be a list."), fields={"crew": [gettext("Give a list of {person, role}.")]})
    seen: set[int] = set()
    cleaned = []
    for person_id, role in crew:
        if role not in CrewRole.values:
            raise Invalid(
                gettext("Unknown crew role."),
                fields={"crew": [gettext("%(role)r is not a crew role.") % {"role": role}]},
            )
        if person_id in seen:
            raise Invalid(
                gettext("A person is on the crew twice."),
                fields={"crew": [gettext("Person %(id)s is listed twice.") % {"id": person_id}]},
            )
        seen.add(person_id)
        cleaned.append((person_id, role))
    found = set(User.objects.filter(pk__in=seen, is_active=True).values_list("pk", flat=True))
    missing = sorted(seen - found)
    if missing:
        raise Invalid(
            gettext("Unknown crew member."),
            fields={"crew": [gettext("No active person has id %(id)s.") % {"id": missing[0]}]},
        )
    return cleaned


def _check_times(starts_at: datetime, ends_at: datetime) -> None:
    fields = rules.validate_shift_times(starts_at, ends_at)
    if fields:
        raise Invalid(gettext("The shift's times are not valid."), fields=fields)


def _check_crew_free(crew: list[tuple[int, str]], starts_at, ends_at, shift_id: int | None) -> None:
    clash = rules.shift_overlaps_for_crew([p for p, _ in crew], starts_at, ends_at, shift_id)
    if clash:
        raise Invalid(
            gettext("A crew member is already rostered at that time."),
            fields={"crew": [f"Person {min(clash)} is on another shift that overlaps this one."]},
        )


def local_date_of(starts_at: datetime, station) -> object:
    # The shift's local date is the station's calendar date at its start (SPEC §2).
    return starts_at.astimezone(station.tz).date()


def create_shift(
    *,
    actor,
    resource_id: int,
    starts_at: datetime,
    ends_at: datetime,
    observer_seats=None,
    external_ref: str | None = None,
    crew=(),
    status: str = ShiftStatus.SCHEDULED,
    now: datetime,
) -> Shift:
    resource = Resource.objects.select_related("station").filter(pk=resource_id).first()
    if resource is None:
        raise Invalid(gettext("Unknown resource."), fields={"resource": [gettext("No resource has that id.")]})
    if actor is not None:
        ensure_lead_or_admin(actor, resource.station_id)
    _check_times(starts_at, ends_at)
    starts_at, ends_at = starts_at.astimezone(UTC), ends_at.astimezone(UTC)
    if status not in ShiftStatus.values:
        raise Invalid(gettext("Unknown status."), fields={"status": [gettext("Choose scheduled or cancelled.")]})
    crew = _validate_crew(list(crew))
    try:
        with write_transaction():
            # Station first, then persons by id (SPEC §5.3).
            type(resource.station).objects.select_for_update().filter(pk=resource.station_id).exists()
            lock_persons(p for p, _ in crew)
            if status == ShiftStatus.SCHEDULED:
                _check_crew_free(crew, starts_at, ends_at, None)
            shift = Shift.objects.create(
                external_ref=external_ref or None,
                station=resource.station,
                resource=resource,
                starts_at=starts_at,
                ends_at=ends_at,
                local_date=local_date_of(starts_at, resource.station),
                is_night=is_night(starts_at, ends_at, resource.station.tz),
                observer_seats=resource.observer_seats if observer_seats is None else observer_seats,
                status=status,
            )
            CrewMember.objects.bulk_create(
                [
                    CrewMember(
                        shift=shift,
                        person_id=p,
                        role=r,
                        starts_at=starts_at,
                        ends_at=ends_at,
                        active=status == ShiftStatus.SCHEDULED,
                    )
                    for p, r in crew
                ]
            )
    except IntegrityError as error:
        raise Invalid(
            gettext("The shift clashes with another."),
            fields={
                "external_ref": [
                    gettext("A shift with that reference exists, or a crew member is already rostered at that time.")
                ]
            },
        ) from error
    return shift


def apply_shift_change(*, shift_id: int, actor, change: ShiftChange, now: datetime) -> tuple[Shift, bool]:
    """Apply a rota change and follow it through the shift's bookings (SPEC §7).

    Returns the shift and whether anything changed. Nothing is written when nothing differs,
    so importing the same rota twice bumps no revision.
    """
    new_crew = None if change.crew is UNSET else _validate_crew(list(change.crew))
    try:
        with write_transaction():
            shift = lock_shift(shift_id, extra_person_ids=[p for p, _ in new_crew or []])
            if actor is not None:
                ensure_lead_or_admin(actor, shift.station_id)
            changed = _apply(shift, actor, change, new_crew, now)
    except IntegrityError as error:
        raise Invalid(
            gettext("The change clashes with another shift."),
            fields={"crew": [gettext("A crew member is already rostered at that time, or the reference is taken.")]},
        ) from error
    return shift, changed


@dataclass
class _Plan:
    """A rota change worked out against the shift as it stands: the new values and what differs."""

    starts_at: datetime
    ends_at: datetime
    seats: int
    status: str
    resource: Resource
    external_ref: object
    crew: list[tuple[int, str]]
    old_crew: dict[int, CrewMember]
    retimed: bool
    crew_changed: bool
    roles_changed: bool
    seats_changed: bool
    seats_reduced: bool
    status_changed: bool
    ref_changed: bool
    resource_changed: bool

    @property
    def changes_anything(self) -> bool:
        return any(
            [
                self.retimed,
                self.crew_changed,
                self.roles_changed,
                self.seats_changed,
                self.status_changed,
                self.ref_changed,
                self.resource_changed,
            ]
        )

    @property
    def leavers(self) -> set[int]:
        return set(self.old_crew) - {p for p, _ in self.crew}


def _apply(shift: Shift, actor, change: ShiftChange, new_crew, now: datetime) -> bool:
    plan = _plan(shift, change, new_crew)
    if not plan.changes_anything:
        return False
    if plan.status == ShiftStatus.SCHEDULED and (plan.retimed or plan.crew_changed or plan.status_changed):
        _check_crew_free(plan.crew, plan.starts_at, plan.ends_at, shift.pk)
    old_local_date = shift.local_date
    _save_shift(shift, plan)
    _save_crew(shift, plan)
    if plan.status_changed and plan.status == ShiftStatus.CANCELLED:
        _cancel_bookings(shift, actor, now)
        return True
    _follow_bookings(shift, plan, actor, now)
    promote_waitlist(shift, now=now)
    if shift.local_date != old_local_date and shift.station.max_observers_per_day is not None:
        # Moved to another day: its old day's places are free for that day's other shifts.
        promote_day(shift.station, old_local_date, now=now)
    return True


def _plan(shift: Shift, change: ShiftChange, new_crew) -> _Plan:
    """Check the asked-for values and compare them with the shift's."""
    starts_at = shift.starts_at if change.starts_at is UNSET else change.starts_at
    ends_at = shift.ends_at if change.ends_at is UNSET else change.ends_at
    seats = shift.observer_seats if change.observer_seats is UNSET else change.observer_seats
    status = shift.status if change.status is UNSET else change.status
    resource = shift.resource
    if change.resource_id is not UNSET and change.resource_id != shift.resource_id:
        resource = Resource.objects.filter(pk=change.resource_id, station_id=shift.station_id).first()
        if resource is None:
            raise Invalid(
                gettext("Unknown resource."), fields={"resource": [gettext("Choose a resource of the same station.")]}
            )
    _check_times(starts_at, ends_at)
    # Stored and compared in UTC, whatever offset the rota gave.
    starts_at, ends_at = starts_at.astimezone(UTC), ends_at.astimezone(UTC)
    if not isinstance(seats, int) or seats < 0:
        raise Invalid(
            gettext("Seats must be zero or more."),
            fields={"observer_seats": [gettext("Give a whole number, 0 or more.")]},
        )
    if status not in ShiftStatus.values:
        raise Invalid(gettext("Unknown status."), fields={"status": [gettext("Choose scheduled or cancelled.")]})
    old_crew = {c.person_id: c for c in shift.crew_members.all()}
    if new_crew is None:
        new_crew = [(p, c.role) for p, c in old_crew.items()]
    external_ref = shift.external_ref if change.external_ref is UNSET else (change.external_ref or None)
    return _Plan(
        starts_at=starts_at,
        ends_at=ends_at,
        seats=seats,
        status=status,
        resource=resource,
        external_ref=external_ref,
        crew=new_crew,
        old_crew=old_crew,
        retimed=(starts_at, ends_at) != (shift.starts_at, shift.ends_at),
        crew_changed={p for p, _ in new_crew} != set(old_crew),
        roles_changed=any(old_crew[p].role != r for p, r in new_crew if p in old_crew),
        seats_changed=seats != shift.observer_seats,
        seats_reduced=seats < shift.observer_seats,
        status_changed=status != shift.status,
        ref_changed=external_ref != shift.external_ref,
        resource_changed=resource.pk != shift.resource_id,
    )


def _save_shift(shift: Shift, plan: _Plan) -> None:
    shift.starts_at, shift.ends_at, shift.observer_seats, shift.status = (
        plan.starts_at,
        plan.ends_at,
        plan.seats,
        plan.status,
    )
    shift.resource = plan.resource
    shift.local_date = local_date_of(plan.starts_at, shift.station)
    shift.is_night = is_night(plan.starts_at, plan.ends_at, shift.station.tz)
    shift.external_ref = plan.external_ref
    fields = ["starts_at", "ends_at", "observer_seats", "status", "resource", "local_date", "is_night", "external_ref"]
    shift.save(update_fields=[*fields, "updated_at"])


def _save_crew(shift: Shift, plan: _Plan) -> None:
    """Leavers off, newcomers on, roles as given; every member's times and state follow the shift's."""
    active = plan.status == ShiftStatus.SCHEDULED
    CrewMember.objects.filter(shift=shift, person_id__in=plan.leavers).delete()
    for person_id, role in plan.crew:
        member = plan.old_crew.get(person_id)
        if member is None:
            CrewMember.objects.create(
                shift=shift,
                person_id=person_id,
                role=role,
                starts_at=plan.starts_at,
                ends_at=plan.ends_at,
                active=active,
            )
        elif member.role != role:
            member.role = role
            member.save(update_fields=["role"])
    CrewMember.objects.filter(shift=shift).update(starts_at=plan.starts_at, ends_at=plan.ends_at, active=active)


def _cancel_bookings(shift: Shift, actor, now: datetime) -> None:
    for booking in Booking.objects.filter(shift=shift, status__in=LIVE_STATUSES).select_related("requested_by"):
        booking.shift = shift
        end_booking(
            booking,
            to=BookingStatus.CANCELLED,
            actor=actor,
            action="shift_cancelled",
            code="shift_cancelled",
            note="The shift was cancelled.",
            now=now,
            promote=False,
        )
    # Its places under the station's daily cap are free for the day's other shifts.
    promote_waitlist(shift, now=now)


def _follow_bookings(shift: Shift, plan: _Plan, actor, now: datetime) -> None:
    """The live bookings after a change: end the ones it breaks, tell the rest, fit the seats."""
    crew = rules.active_crew(shift)
    live = list(
        Booking.objects.filter(shift=shift, status__in=LIVE_STATUSES)
        .order_by("created_at", "id")
        .select_related("requested_by")
    )
    for booking in live:
        booking.shift = shift
    if plan.retimed or plan.crew_changed:
        _end_broken_bookings(shift, live, crew, actor, now)
    if plan.retimed:
        Place.objects.filter(shift=shift).update(starts_at=plan.starts_at, ends_at=plan.ends_at)
    live = [b for b in live if b.status in LIVE_STATUSES]
    if plan.retimed or plan.resource_changed:
        _tell_of_move(live, actor, now)
    if plan.crew_changed:
        _follow_crew_change(shift, live, plan.leavers, crew, actor, now)
    if plan.seats_reduced:
        _fit_reduced_seats(shift, live, actor, now)


def _end_broken_bookings(shift: Shift, live: list[Booking], crew, actor, now: datetime) -> None:
    """A held booking the new times or crew break (a clash, a crew limit) is cancelled, with the rule."""
    for booking in live:
        if booking.status not in HELD_STATUSES:
            continue
        observers = [
            p.person for p in booking.places.select_related("person__profile").exclude(state=PlaceState.RELEASED)
        ]
        broken = rules.check_booking(
            shift=shift, observers=observers, now=now, new_request=False, exclude_booking=booking, crew=crew
        )
        if broken:
            rule = broken[0]
            end_booking(
                booking,
                to=BookingStatus.CANCELLED,
                actor=actor,
                action="shift_changed",
                code="shift_changed",
                note=f"{rule.code}: {rule.detail}",
                now=now,
                told_note=rule.detail,
                promote=False,
            )


def _tell_of_move(live: list[Booking], actor, now: datetime) -> None:
    """New times or another vehicle: each live booking's revision rises and its parties are told."""
    for booking in live:
        touch(booking, now)
        record_step(
            booking,
            actor=actor,
            action="shift_changed",
            now=now,
            code="shift_changed",
        )
        notifications.tell_parties(booking, "shift_changed", now=now)


def _follow_crew_change(shift: Shift, live: list[Booking], leavers: set[int], crew, actor, now: datetime) -> None:
    """A leaver's consent is dropped; a newcomer is asked, or their preference applies (SPEC §4)."""
    Consent.objects.filter(booking__in=live, person_id__in=leavers).delete()
    for booking in live:
        before = set(booking.consents.values_list("person_id", flat=True))
        ask_crew(booking, crew, now)
        newcomers = booking.consents.exclude(person_id__in=before)
        asked = [c.person for c in newcomers.filter(state=ConsentState.PENDING).select_related("person")]
        if booking.status == BookingStatus.APPROVED and asked:
            # Seats and the lead's approval are kept; only the newcomer's consent is missing.
            move_booking(
                booking,
                to=BookingStatus.PENDING,
                actor=actor,
                action="crew_changed",
                now=now,
                note="A new crew member has been asked to consent.",
            )
        if booking.status == BookingStatus.PENDING:
            notifications.queue(booking, "consent_requested", asked, now=now)
        settle(booking, actor=actor, now=now)


def _fit_reduced_seats(shift: Shift, live: list[Booking], actor, now: datetime) -> None:
    """The most recently created held bookings go back to the waiting list until the rest fit."""
    held = [b for b in live if b.status in HELD_STATUSES]
    count = Place.objects.filter(shift=shift, state=PlaceState.HELD).count()
    for booking in sorted(held, key=lambda b: (b.created_at, b.pk), reverse=True):
        if count <= shift.observer_seats:
            break
        count -= booking.places.filter(state=PlaceState.HELD).count()
        move_booking(
            booking,
            to=BookingStatus.WAITLISTED,
            actor=actor,
            action="seats_reduced",
            now=now,
            code="seats_reduced",
            note="The shift now has fewer observer seats.",
        )
        notifications.tell_parties(booking, "waitlisted", now=now)
