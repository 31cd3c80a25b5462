"""Transactions, locks and the audit trail shared by every service."""

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TypeVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError, OperationalError, connection, transaction
from django.utils.translation import gettext

from ..access import ensure_lead_or_admin, is_admin, is_lead_of, lead_station_ids  # noqa: F401 - used by services
from ..errors import Busy, InvalidTransition, NotFound
from ..models import AuditEvent, Booking, BookingStatus, CrewMember, Place, PlaceState, Shift, Station
from ..transitions import ALLOWED_TRANSITIONS, may_become  # noqa: F401 - used by services

User = get_user_model()
T = TypeVar("T")

LOCK_ERROR_CODES = {"55P03", "40P01", "40001"}  # lock_not_available, deadlock_detected, serialization_failure


def _is_lock_failure(error: DatabaseError) -> bool:
    sqlstate = getattr(getattr(error, "__cause__", None), "sqlstate", None)
    if sqlstate in LOCK_ERROR_CODES:
        return True
    return isinstance(error, OperationalError) and "database is locked" in str(error)


@contextmanager
def write_transaction() -> Iterator[None]:
    """One transaction per operation, with a bounded lock wait that ends in `busy` (SPEC §5.3).

    On PostgreSQL the connection already carries `lock_timeout` (see settings); it is set again for
    the transaction only when the setting has changed since the connection was configured.
    """
    try:
        with transaction.atomic():
            wanted = int(settings.RIDEALONG_LOCK_TIMEOUT_MS)
            if connection.vendor == "postgresql" and wanted != settings.RIDEALONG_CONNECTION_LOCK_TIMEOUT_MS:
                # SET LOCAL dies with the transaction, so pooled connections keep their defaults.
                with connection.cursor() as cursor:
                    cursor.execute(f"SET LOCAL lock_timeout = {wanted}")
            yield
    except DatabaseError as error:
        if _is_lock_failure(error):
            raise Busy() from error
        raise


def lock_shift(shift_id: int, *, extra_person_ids: Iterable[int] = (), station: Sequence | None = None) -> Shift:
    """Lock station, shift, then every person the change may touch, by ascending id (SPEC §5.3).

    The persons are the shift's crew, the observers of its live places and `extra_person_ids`;
    locking them all up front lets waitlist promotion run without taking a lock out of order.
    `station` is the shift's (station id, observers-per-day cap) when the caller has read it already.
    """
    if station is None:
        lock_station_of_shift(shift_id)
    else:
        lock_station(station[0], exclusive=station[1] is not None)
    try:
        shift = Shift.objects.select_for_update(of=("self",)).select_related("station", "resource").get(pk=shift_id)
    except Shift.DoesNotExist:
        raise NotFound("That shift does not exist.") from None
    extra = sorted({int(i) for i in extra_person_ids})
    if connection.vendor != "postgresql":
        live = Place.objects.filter(shift=shift).exclude(state=PlaceState.RELEASED).values_list("person_id", flat=True)
        lock_persons({*shift.crew_members.values_list("person_id", flat=True), *live, *extra})
        return shift
    # Crew, live observers and the extra persons, found and locked in one round trip, by ascending id.
    with connection.cursor() as cursor:
        cursor.execute(LOCK_SHIFT_PERSONS, [shift_id, shift_id, extra])
    return shift


LOCK_SHIFT_PERSONS = """
SELECT id FROM auth_user WHERE id IN (
    SELECT person_id FROM scheduling_crewmember WHERE shift_id = %s
    UNION SELECT person_id FROM scheduling_place WHERE shift_id = %s AND state <> 'released'
    UNION SELECT unnest(%s::bigint[])
) ORDER BY id FOR UPDATE
"""
LOCK_UNCAPPED_STATION_OF_SHIFT = """
SELECT id FROM scheduling_station
WHERE id = (SELECT station_id FROM scheduling_shift WHERE id = %s) AND max_observers_per_day IS NULL
FOR SHARE
"""
LOCK_STATION_EXCLUSIVE = "SELECT max_observers_per_day FROM scheduling_station WHERE id = %s FOR UPDATE"
LOCK_STATION_SHARED = "SELECT max_observers_per_day FROM scheduling_station WHERE id = %s FOR SHARE"


def lock_station(station_id: int, *, exclusive: bool) -> None:
    """Lock the station row first (SPEC §5.3).

    Exclusive when the station caps observers per day, since then every booking there competes for
    the same places; otherwise a shared lock, so bookings on different shifts of one station run side
    by side while station edits (suspension, settings), which lock it exclusively, still wait for them.
    """
    if connection.vendor != "postgresql":
        # SQLite's IMMEDIATE transactions already serialise every writer.
        return
    with connection.cursor() as cursor:
        cursor.execute(LOCK_STATION_EXCLUSIVE if exclusive else LOCK_STATION_SHARED, [station_id])
        found = cursor.fetchone()
    if not exclusive and found and found[0] is not None:
        # The cap was set while we looked: take the exclusive lock after all.
        lock_station(station_id, exclusive=True)


def lock_station_of_shift(shift_id: int) -> None:
    """`lock_station` for a shift's station, found and locked in one round trip when it caps nothing per
    day (the usual case); a capped station is read first, then locked exclusively. A shift that does
    not exist locks nothing, and the shift's own read under its lock says so."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(LOCK_UNCAPPED_STATION_OF_SHIFT, [shift_id])
        if cursor.fetchone() is not None:
            return
    station = Shift.objects.filter(pk=shift_id).values_list("station_id", "station__max_observers_per_day").first()
    if station is not None:
        lock_station(station[0], exclusive=station[1] is not None)


def lock_persons(person_ids: Iterable[int]) -> None:
    ids = sorted(set(person_ids))
    if ids:
        list(User.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", flat=True))


def lock_booking(booking_id: int, *, extra_person_ids: Iterable[int] = ()) -> Booking:
    row = (
        Booking.objects.filter(pk=booking_id)
        .values_list("shift_id", "shift__station_id", "shift__station__max_observers_per_day")
        .first()
    )
    if row is None:
        raise NotFound("That booking does not exist.")
    lock_shift(row[0], extra_person_ids=extra_person_ids, station=row[1:])
    # Re-read under the locks: whatever we saw before waiting may have changed.
    return Booking.objects.select_related("shift__station", "shift__resource", "requested_by__profile").get(
        pk=booking_id
    )


class _AffectedChanged(Exception):
    """The bookings a change affects grew while their locks were being taken."""


def lock_bookings(
    booking_ids: Iterable[int], *, extra_person_ids: Iterable[int] = (), extra_station_ids: Iterable[int] = ()
) -> list[Booking]:
    """Lock the stations, then the shifts, then the persons of several bookings, each kind by id (SPEC §5.3)."""
    ids = sorted(set(booking_ids))
    rows = list(Booking.objects.filter(pk__in=ids).values_list("shift_id", "shift__station_id"))
    for station_id in sorted({station for _, station in rows} | set(extra_station_ids)):
        lock_station(station_id, exclusive=True)
    shift_ids = sorted({shift for shift, _ in rows})
    list(Shift.objects.select_for_update(of=("self",)).filter(pk__in=shift_ids).order_by("pk").values_list("pk"))
    crew = CrewMember.objects.filter(shift_id__in=shift_ids).values_list("person_id", flat=True)
    live = (
        Place.objects.filter(shift_id__in=shift_ids)
        .exclude(state=PlaceState.RELEASED)
        .values_list("person_id", flat=True)
    )
    lock_persons({*crew, *live, *extra_person_ids})
    return list(
        Booking.objects.filter(pk__in=ids)
        .select_related("shift__station", "shift__resource", "requested_by__profile")
        .order_by("pk")
    )


def change_with_bookings(
    find: Callable[[], Iterable[int]],
    apply: Callable[[list[Booking]], T],
    *,
    extra_person_ids: Iterable[int] = (),
    extra_station_ids: Iterable[int] = (),
) -> T:
    """A change and everything it does to bookings, in one transaction with locks in SPEC §5.3's order.

    `find` names the affected bookings; it is asked again under the locks, and if a booking joined
    meanwhile (made by a request that committed between the two looks) the whole change starts again,
    so nothing is ever left half-done: the parent change and every booking it touches commit together.
    """
    for _ in range(3):
        try:
            with write_transaction():
                ids = set(find())
                bookings = lock_bookings(ids, extra_person_ids=extra_person_ids, extra_station_ids=extra_station_ids)
                if not set(find()) <= ids:
                    raise _AffectedChanged
                return apply(bookings)
        except _AffectedChanged:
            continue
    raise Busy()


def record_event(
    *,
    booking: Booking | None,
    actor,
    action: str,
    now: datetime,
    from_status: str = "",
    to_status: str = "",
    code: str = "",
    note: str = "",
    station: Station | None = None,
    subject=None,
    actor_private: bool = False,
    open_request=None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        booking=booking,
        station=station,
        subject=subject,
        open_request=open_request,
        actor=actor,
        action=action,
        at=now,
        from_status=from_status,
        to_status=to_status,
        code=code,
        note=note,
        actor_private=actor_private,
    )


def record_step(booking: Booking, *, actor, action: str, now: datetime, **details) -> AuditEvent:
    """An event on a booking that leaves its status as it is (an approval still waiting, a consent, a retime)."""
    return record_event(
        booking=booking,
        actor=actor,
        action=action,
        now=now,
        from_status=booking.status,
        to_status=booking.status,
        **details,
    )


def ensure_transition(booking: Booking, to: str, message: str = "") -> None:
    if not may_become(booking, to):
        raise InvalidTransition(
            message
            or gettext("A booking that is %(state)s cannot become %(to)s.")
            % {"state": booking.get_status_display().lower(), "to": BookingStatus(to).label.lower()}
        )


def place_state_for(status: str) -> str:
    if status in (BookingStatus.PENDING, BookingStatus.APPROVED):
        return PlaceState.HELD
    if status == BookingStatus.WAITLISTED:
        return PlaceState.WAITLISTED
    return PlaceState.RELEASED


def move_booking(
    booking: Booking,
    *,
    to: str,
    actor,
    action: str,
    now: datetime,
    code: str = "",
    note: str = "",
    actor_private: bool = False,
) -> None:
    """Change a booking's status, its places and revision, and write the audit event."""
    ensure_transition(booking, to)
    from_status = booking.status
    booking.status = to
    booking.revision += 1
    booking.updated_at = now
    booking.status_changed_at = now
    fields = ["status", "revision", "updated_at", "status_changed_at"]
    if to in (BookingStatus.DECLINED, BookingStatus.CANCELLED, BookingStatus.EXPIRED, BookingStatus.WAITLISTED) or code:
        booking.cancel_reason = code
        booking.status_note = note
        fields += ["cancel_reason", "status_note"]
    elif to in (BookingStatus.PENDING, BookingStatus.APPROVED):
        booking.cancel_reason = ""
        fields.append("cancel_reason")
    booking.save(update_fields=fields)
    Place.objects.filter(booking=booking).exclude(state=PlaceState.RELEASED).update(state=place_state_for(to))
    recount_held(booking.shift_id)
    record_event(
        booking=booking,
        actor=actor,
        action=action,
        now=now,
        from_status=from_status,
        to_status=to,
        code=code,
        note=note,
        actor_private=actor_private,
    )


def recount_held(shift_id: int) -> None:
    """Recount the shift's held observers; called under the shift's lock after places change."""
    held = Place.objects.filter(shift_id=shift_id, state=PlaceState.HELD).count()
    Shift.objects.filter(pk=shift_id).exclude(held_seats=held).update(held_seats=held)


def remember_related(instance, **rows) -> None:
    """Keep rows just written as the instance's prefetched relations, so showing it needs no re-read."""
    cache = getattr(instance, "_prefetched_objects_cache", None)
    if cache is None:
        cache = instance._prefetched_objects_cache = {}
    for name, values in rows.items():
        queryset = getattr(instance, name).all()
        queryset._result_cache = list(values)
        queryset._prefetch_done = True
        cache[name] = queryset


def touch(booking: Booking, now: datetime) -> None:
    """Something shown in a calendar changed: bump the revision (SPEC §5)."""
    booking.revision += 1
    booking.updated_at = now
    booking.save(update_fields=["revision", "updated_at"])
