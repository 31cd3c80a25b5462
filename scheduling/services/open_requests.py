"""Asking for a date: open requests, their fairest suggestions, and placing them (SPEC §17)."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from .. import access, notifications, rules
from ..errors import Forbidden, Invalid, InvalidTransition, NotFound, RuleViolation, raise_if_any
from ..models import (
    Booking,
    BookingStatus,
    ConsentPreference,
    CrewMember,
    CrewRole,
    OpenRequest,
    OpenRequestStatus,
    ResourceKind,
    Shift,
    ShiftStatus,
    Station,
    TimeOfDay,
)
from ..selectors import with_day_held
from .base import lock_shift, record_event, write_transaction
from .bookings import BOOKING_ENDED, _validate_request, hold_new_booking, settle

User = get_user_model()

MAX_WINDOW_DAYS = 62
MAX_AHEAD_DAYS = 183
MAX_SUGGESTIONS = 20


def station_today(station: Station, now: datetime) -> date:
    # "Today" is the station's calendar date: the dates asked for are its local dates.
    return now.astimezone(station.tz).date()


def window_end(request: OpenRequest) -> datetime:
    """The first moment after the window: local midnight after `to_date`, in the station's zone."""
    return datetime.combine(request.to_date + timedelta(days=1), time.min, request.station.tz)


def _check_dates(station: Station, from_date, to_date, now: datetime) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    today = station_today(station, now)
    if not isinstance(from_date, date):
        fields["from_date"] = [_("Enter the first date you could come.")]
    if not isinstance(to_date, date):
        fields["to_date"] = [_("Enter the last date you could come.")]
    if fields:
        return fields
    if from_date < today:
        fields["from_date"] = [_("The first date must be today or later.")]
    if to_date < from_date:
        fields["to_date"] = [_("The last date must be on or after the first date.")]
    elif (to_date - from_date).days > MAX_WINDOW_DAYS:
        fields["to_date"] = [_("Ask for at most %(n)s days at a time.") % {"n": MAX_WINDOW_DAYS}]
    if to_date > today + timedelta(days=MAX_AHEAD_DAYS):
        fields.setdefault("to_date", []).append(
            _("The last date must be within %(n)s days from today.") % {"n": MAX_AHEAD_DAYS}
        )
    return fields


def create_open_request(
    *,
    actor,
    station_id: int,
    from_date: date,
    to_date: date,
    purpose: str,
    time_of_day: str = TimeOfDay.ANY,
    resource_kind: str | None = None,
    observer_ids: list[int] | None = None,
    now: datetime,
) -> OpenRequest:
    """Ask a station for a date; its leads are told, or it is placed at once where the station auto-places."""
    if not access.may_request(actor):
        raise Forbidden(_("Only requesters can ask for ride-alongs."))
    station = Station.objects.filter(pk=station_id).first()
    fields, observers = _validate_request(actor, observer_ids, purpose)
    if station is None:
        fields["station"] = [_("No station has that id.")]
    else:
        fields.update(_check_dates(station, from_date, to_date, now))
    if time_of_day not in TimeOfDay.values:
        fields["time_of_day"] = [_("Choose day, night or any.")]
    if resource_kind is not None and resource_kind not in ResourceKind.values:
        fields["resource_kind"] = [_("Choose a kind of resource, or none for any.")]
    if fields:
        raise Invalid(_("Some of the request is not valid."), fields=fields)
    with write_transaction():
        # The station's row first (SPEC §5.3): a suspension set meanwhile is seen.
        station = Station.objects.select_for_update().get(pk=station_id)
        ends = datetime.combine(to_date + timedelta(days=1), time.min, station.tz)
        if station.suspended_until is not None and station.suspended_until >= ends:
            raise RuleViolation(
                _("Observations at %(station)s are suspended for all of those dates.") % {"station": station.name},
                code="station_suspended",
            )
        request = OpenRequest.objects.create(
            requested_by=actor,
            station=station,
            from_date=from_date,
            to_date=to_date,
            time_of_day=time_of_day,
            resource_kind=resource_kind or None,
            purpose=purpose.strip(),
            created_at=now,
            updated_at=now,
        )
        request.observers.set(observers)
        record_event(
            booking=None,
            open_request=request,
            station=station,
            actor=actor,
            action="request_made",
            now=now,
            to_status=OpenRequestStatus.OPEN,
        )
        if not station.auto_place_requests:
            notifications.queue_about_request(request, "request_new", station.leads.select_related("profile"), now=now)
    if station.auto_place_requests:
        auto_place(request.pk, now=now)
        request.refresh_from_db()
    return request


def _lock_request(request_id: int) -> OpenRequest:
    try:
        # Only the request row (of=self): the station is locked first, shared, by whoever locks it (SPEC §5.3).
        return OpenRequest.objects.select_for_update(of=("self",)).select_related("station").get(pk=request_id)
    except OpenRequest.DoesNotExist:
        raise NotFound(_("No request with that id.")) from None


def _move(request: OpenRequest, *, to: str, actor, action: str, now: datetime, note: str = "") -> None:
    was = request.status
    request.status, request.updated_at = to, now
    fields = ["status", "updated_at", "booking"]
    if to != OpenRequestStatus.PLACED:
        request.booking = None
    if to == OpenRequestStatus.CLOSED:
        request.close_reason = note
        fields.append("close_reason")
    request.save(update_fields=fields)
    record_event(
        booking=None,
        open_request=request,
        station=request.station,
        actor=actor,
        action=action,
        now=now,
        from_status=was,
        to_status=to,
        note=note,
    )


def parties(request: OpenRequest) -> list:
    return [request.requested_by, *request.observers.select_related("profile")]


def withdraw_open_request(*, actor, request_id: int, now: datetime) -> OpenRequest:
    """The requester takes back a request still being placed."""
    with write_transaction():
        request = _lock_request(request_id)
        if request.requested_by_id != actor.pk:
            raise Forbidden(_("Only the person who asked can withdraw this request."))
        if request.status != OpenRequestStatus.OPEN:
            raise InvalidTransition(_("Only a request still being placed can be withdrawn."))
        _move(request, to=OpenRequestStatus.WITHDRAWN, actor=actor, action="request_withdrawn", now=now)
    return request


def close_open_request(*, actor, request_id: int, reason: str, now: datetime) -> OpenRequest:
    """A lead ends a request they cannot place, saying why; the requester and observers are told the reason."""
    reason = reason.strip() if isinstance(reason, str) else ""
    if not reason:
        raise Invalid(_("Say why the request is closed."), fields={"reason": [_("Enter why you are closing it.")]})
    with write_transaction():
        request = _lock_request(request_id)
        if not access.leads_or_admin(actor, request.station_id):
            raise Forbidden(_("Only the station's leads can close this request."))
        if request.status != OpenRequestStatus.OPEN:
            raise InvalidTransition(_("Only a request still being placed can be closed."))
        _move(request, to=OpenRequestStatus.CLOSED, actor=actor, action="request_closed", now=now, note=reason[:2000])
        notifications.queue_about_request(request, "request_closed", parties(request), now=now, note=reason)
    return request


@dataclass
class Suggestion:
    shift: Shift
    crew: list[CrewMember]
    seats_free: int
    crew_load: int
    standing: int


def _candidates(request: OpenRequest, now: datetime, party: int):
    station = request.station
    tried = Booking.objects.filter(from_request=request).values("shift_id")
    qs = Shift.objects.filter(
        station=station,
        status=ShiftStatus.SCHEDULED,
        local_date__gte=request.from_date,
        local_date__lte=request.to_date,
        starts_at__gte=now + timedelta(hours=station.min_notice_hours),
        # Room on the shift itself for the whole party, as its counter says; the day cap is asked below.
        held_seats__lte=F("observer_seats") - party,
    ).exclude(pk__in=tried)
    if station.suspended_until is not None:
        qs = qs.filter(starts_at__gte=station.suspended_until)
    if request.time_of_day != TimeOfDay.ANY:
        qs = qs.filter(is_night=request.time_of_day == TimeOfDay.NIGHT)
    if request.resource_kind:
        qs = qs.filter(resource__kind=request.resource_kind)
    if station.max_observers_per_day is not None:
        # Only a daily cap needs each shift's day counted (rules.seats_free asks it of `day_held`).
        qs = with_day_held(qs)
    return qs.select_related("station", "resource").order_by("starts_at", "id")


@dataclass
class _Profile:
    name: str
    consent_preference: str


@dataclass
class _Person:
    pk: int
    username: str
    profile: _Profile


@dataclass
class CrewSeat:
    """A crew member of a candidate shift, read as plain values: what the rules, the API and the lead's
    page need of them, without building three model instances each."""

    person_id: int
    role: str
    person: _Person
    active: bool = True

    def get_role_display(self) -> str:
        return str(CrewRole(self.role).label)


def _crews(shifts: list[Shift]) -> dict[int, list[CrewSeat]]:
    """Every candidate's active crew, in one query."""
    crews: dict[int, list[CrewSeat]] = {s.pk: [] for s in shifts}
    rows = (
        CrewMember.objects.filter(shift_id__in=list(crews), active=True)
        .order_by("shift_id", "id")
        .values_list(
            "shift_id",
            "person_id",
            "role",
            "person__username",
            "person__profile__name",
            "person__profile__consent_preference",
        )
    )
    for shift_id, person_id, role, username, name, preference in rows:
        person = _Person(person_id, username, _Profile(name or "", preference))
        crews[shift_id].append(CrewSeat(person_id, role, person))
    return crews


def suggestions(request: OpenRequest, *, now: datetime, limit: int = MAX_SUGGESTIONS) -> list[Suggestion]:
    """The shifts this request could be placed on now, fairest first (SPEC §17), in a fixed number of queries.

    Every rule of §5.2 is asked of the whole party, from rows fetched once for all the shifts, and there
    must be room for all of them now; the order is the lowest crew load, the most standing consents, the
    earliest start. The candidates are put in that order first, and the rules asked until `limit` pass.
    """
    if request.status != OpenRequestStatus.OPEN:
        return []
    observers = list(request.observers.select_related("profile").order_by("id"))
    shifts = list(_candidates(request, now, len(observers)))
    crews = _crews(shifts)
    known = rules.load_known(shifts, observers, crews)
    ranked = []
    for shift in shifts:
        crew = crews[shift.pk]
        standing = sum(1 for c in crew if c.person.profile.consent_preference == ConsentPreference.ALWAYS)
        ranked.append((rules.crew_load(shift, crew, known.hosting), -standing, shift.starts_at, shift.pk, shift))
    ranked.sort(key=lambda r: r[:4])
    found = []
    for load, standing, _start, _pk, shift in ranked:
        free = rules.seats_free(shift)
        if free < len(observers):
            continue
        crew = crews[shift.pk]
        broken = rules.check_booking(
            shift=shift, observers=observers, now=now, new_request=True, placed=True, crew=crew, known=known
        )
        if not broken:
            found.append(Suggestion(shift, crew, free, load, -standing))
            if len(found) == limit:
                break
    return found


def _fits_request(request: OpenRequest, shift: Shift) -> bool:
    if shift.station_id != request.station_id or not request.from_date <= shift.local_date <= request.to_date:
        return False
    if request.time_of_day != TimeOfDay.ANY and shift.is_night != (request.time_of_day == TimeOfDay.NIGHT):
        return False
    if request.resource_kind and shift.resource.kind != request.resource_kind:
        return False
    return not Booking.objects.filter(from_request=request, shift=shift).exists()


def place_open_request(*, actor, request_id: int, shift_id: int, now: datetime) -> OpenRequest:
    """Place a request on a shift (a lead's choice, or the system's with `actor` None): a booking with the
    lead's approval given, the crew asked as for any booking, under SPEC §5.3's locks."""
    first = OpenRequest.objects.filter(pk=request_id).values_list("station_id", "requested_by_id").first()
    if first is None:
        raise NotFound(_("No request with that id."))
    if actor is not None and not access.leads_or_admin(actor, first[0]):
        raise Forbidden(_("Only the station's leads can place this request."))
    observer_ids = list(
        OpenRequest.observers.through.objects.filter(openrequest_id=request_id).values_list("user_id", flat=True)
    )
    with write_transaction():
        try:
            # Station, shift, then the persons (SPEC §5.3); the request's own row last.
            shift = lock_shift(shift_id, extra_person_ids=[*observer_ids, first[1]])
        except NotFound:
            raise Invalid(_("No shift has that id."), fields={"shift": [_("No shift has that id.")]}) from None
        request = _lock_request(request_id)
        if request.status != OpenRequestStatus.OPEN:
            raise InvalidTransition(_("Only a request still being placed can be placed."))
        if not _fits_request(request, shift):
            raise Invalid(
                _("That shift is not one this request can be placed on."),
                fields={"shift": [_("Choose a shift at the station, on the dates and at the time asked for.")]},
            )
        observers = list(request.observers.select_related("profile").order_by("id"))
        crew = rules.active_crew(shift)
        raise_if_any(
            rules.check_booking(shift=shift, observers=observers, now=now, new_request=True, placed=True, crew=crew)
        )
        if rules.free_capacity(shift, held=shift.held_seats) < len(observers):
            raise rules.no_seats()
        booking = hold_new_booking(
            shift,
            crew,
            requested_by=request.requested_by,
            observers=observers,
            purpose=request.purpose,
            allow_waitlist=False,
            fits=True,
            actor=actor,
            placed_by=actor,
            from_request=request,
            now=now,
        )
        request.booking = booking
        _move(request, to=OpenRequestStatus.PLACED, actor=actor, action="request_placed", now=now)
        notifications.tell_parties(booking, "request_placed", now=now)
        # Standing consents may complete it at once; who gave them stays private (SPEC §13).
        settle(booking, actor=actor, now=now, by_crew=True)
    return request


def auto_place(request_id: int, *, now: datetime, tell_leads: bool = True) -> bool:
    """At an auto-placing station, place an open request on its fairest suggestion, the system acting."""
    request = OpenRequest.objects.select_related("station").filter(pk=request_id).first()
    if request is None or request.status != OpenRequestStatus.OPEN or not request.station.auto_place_requests:
        return False
    for suggestion in suggestions(request, now=now, limit=3):
        try:
            place_open_request(actor=None, request_id=request.pk, shift_id=suggestion.shift.pk, now=now)
        except RuleViolation:
            continue  # taken meanwhile: the next fairest
        return True
    if not tell_leads:
        return False
    # Nothing to offer now: the leads place it when they can.
    with write_transaction():
        notifications.queue_about_request(
            request, "request_new", request.station.leads.select_related("profile"), now=now
        )
    return False


def _follow_booking(booking: Booking, *, now: datetime) -> None:
    """Under the booking's locks: a crew decline sends the request back to be placed again; any other end
    of its booking closes it with the booking's reason (SPEC §17)."""
    request = _lock_request(booking.from_request_id)
    if request.booking_id != booking.pk or request.status != OpenRequestStatus.PLACED:
        return
    if booking.status == BookingStatus.DECLINED and booking.cancel_reason == "crew_declined":
        _move(request, to=OpenRequestStatus.OPEN, actor=None, action="request_reopened", now=now)
        notifications.queue_about_request(request, "request_again", parties(request), now=now)
        if request.station.auto_place_requests:
            # Placed again once this change has committed, in a transaction of its own: placing takes
            # another shift's lock, which may not be taken after the persons this one holds (SPEC §5.3).
            transaction.on_commit(lambda: auto_place(request.pk, now=now))
        else:
            leads = request.station.leads.select_related("profile")
            notifications.queue_about_request(request, "request_again_leads", leads, now=now)
        return
    reason = booking.status_note or booking.cancel_reason or booking.status
    _move(request, to=OpenRequestStatus.CLOSED, actor=None, action="request_closed", now=now, note=reason)


BOOKING_ENDED.append(_follow_booking)


def lapse_open_requests(*, now: datetime) -> int:
    """Open requests none of whose window can still be booked lapse, and the requester is told."""
    lapsed = 0
    for request in OpenRequest.objects.filter(status=OpenRequestStatus.OPEN).select_related("station"):
        if window_end(request) - timedelta(hours=request.station.min_notice_hours) > now:
            continue
        with write_transaction():
            request = _lock_request(request.pk)
            if request.status != OpenRequestStatus.OPEN:
                continue
            _move(request, to=OpenRequestStatus.LAPSED, actor=None, action="request_lapsed", now=now)
            notifications.queue_about_request(request, "request_lapsed", [request.requested_by], now=now)
            lapsed += 1
    return lapsed


def place_waiting_requests(*, now: datetime) -> int:
    """`process_due`'s safety net: open requests at auto-placing stations that could be placed now are."""
    ids = OpenRequest.objects.filter(status=OpenRequestStatus.OPEN, station__auto_place_requests=True).values_list(
        "pk", flat=True
    )
    return sum(1 for pk in list(ids) if auto_place(pk, now=now, tell_leads=False))
