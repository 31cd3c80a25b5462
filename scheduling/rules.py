"""The rules of SPEC §5.2 as plain functions: given rows and a time, return violations.

Services call these under the locks they took; nothing else decides whether a booking may be held.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q
from django.utils.translation import gettext, gettext_lazy, ngettext

from . import dates
from .errors import RuleViolation
from .models import (
    HELD_STATUSES,
    Booking,
    Clearance,
    ConsentPreference,
    CrewMember,
    Place,
    PlaceState,
    Shift,
    ShiftStatus,
)

HOSTING_WINDOW = timedelta(days=28)
OBSERVER_LIMIT_WINDOW = timedelta(days=365)


def _name(person) -> str:
    from .models import display_name

    return display_name(person)


def age_on(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def active_crew(shift: Shift) -> list[CrewMember]:
    # In id order, sorted here: every booking asks this, and an ORDER BY costs more to build than to sort.
    crew = shift.crew_members.select_related("person__profile").order_by()
    return sorted((c for c in crew if c.active), key=lambda c: c.pk)


def check_shift_open(shift: Shift, crew: Sequence[CrewMember]) -> list[RuleViolation]:
    if shift.status == ShiftStatus.CANCELLED or shift.observer_seats == 0:
        return [RuleViolation(gettext("This shift is not open to observers."), code="shift_unavailable")]
    # Said without a reason: a crew member's preference is private (SPEC §4).
    if any(c.person.profile.consent_preference == ConsentPreference.NEVER for c in crew):
        return [RuleViolation(gettext("This shift is not open to observers."), code="shift_unavailable")]
    return []


def check_not_started(shift: Shift, now: datetime) -> list[RuleViolation]:
    if now >= shift.starts_at:
        return [
            RuleViolation(
                gettext("This shift has already started, so its bookings can no longer change."), code="shift_started"
            )
        ]
    return []


def check_notice(shift: Shift, now: datetime) -> list[RuleViolation]:
    hours = shift.station.min_notice_hours
    if shift.starts_at - now < timedelta(hours=hours):
        return [
            RuleViolation(
                gettext("%(station)s needs at least %(hours)s hours' notice; choose a later shift.")
                % {"station": shift.station.name, "hours": hours},
                code="too_late",
            )
        ]
    return []


def check_suspension(shift: Shift) -> list[RuleViolation]:
    until = shift.station.suspended_until
    if until is not None and shift.starts_at < until:
        local = until.astimezone(shift.station.tz)
        return [
            RuleViolation(
                gettext("Observations at %(station)s are suspended until %(until)s.")
                % {"station": shift.station.name, "until": dates.written(local, "j M Y H:i")},
                code="station_suspended",
            )
        ]
    return []


def check_shift_choice(shift: Shift) -> list[RuleViolation]:
    if not shift.station.allow_shift_choice:
        return [
            RuleViolation(
                gettext("%(station)s places observers itself: ask for a date instead of choosing a shift.")
                % {"station": shift.station.name},
                code="shift_choice_off",
            )
        ]
    return []


def check_observers_not_crew(crew: Sequence[CrewMember], observers: Sequence) -> list[RuleViolation]:
    crew_ids = {c.person_id for c in crew}
    for person in observers:
        if person.pk in crew_ids:
            return [
                RuleViolation(
                    gettext("%(name)s is rostered on this shift and cannot also observe it.") % {"name": _name(person)},
                    code="observer_is_crew",
                    data={"observer": person.pk, "observer_name": _name(person)},
                )
            ]
    return []


def overlaps(a_starts: datetime, a_ends: datetime, b_starts: datetime, b_ends: datetime) -> bool:
    """Half-open intervals: a shift ending at 07:00 does not overlap one starting at 07:00."""
    return a_starts < b_ends and b_starts < a_ends


def overlapping(starts_at: datetime, ends_at: datetime, prefix: str = "") -> Q:
    """`overlaps` as a query: rows whose [starts_at, ends_at) overlaps the interval given."""
    return Q(**{f"{prefix}starts_at__lt": ends_at, f"{prefix}ends_at__gt": starts_at})


def observer_places(shift: Shift, observers: Sequence, exclude_booking: Booking | None) -> list[tuple[int, int]]:
    """(person, shift) of the observers' places that could clash with this shift: its own live ones
    and held ones overlapping it elsewhere. One query serves both rules below."""
    # A held place on this very shift overlaps it too; the callers tell the two apart by shift.
    places = Place.objects.filter(
        Q(shift_id=shift.pk) | Q(state=PlaceState.HELD) & overlapping(shift.starts_at, shift.ends_at),
        person_id__in=[o.pk for o in observers],
        state__in=[PlaceState.HELD, PlaceState.WAITLISTED],
    )
    if exclude_booking is not None:
        places = places.exclude(booking=exclude_booking)
    return list(places.order_by().values_list("person_id", "shift_id"))


def check_duplicates(
    shift: Shift, observers: Sequence, exclude_booking: Booking | None, places: list[tuple[int, int]] | None = None
) -> list[RuleViolation]:
    if places is None:
        places = observer_places(shift, observers, exclude_booking)
    taken = {person_id for person_id, shift_id in places if shift_id == shift.pk}
    for person in observers:
        if person.pk in taken:
            return [
                RuleViolation(
                    gettext("%(name)s already has a booking on this shift.") % {"name": _name(person)},
                    code="duplicate_booking",
                    data={"observer": person.pk},
                )
            ]
    return []


def check_overlaps(
    shift: Shift, observers: Sequence, exclude_booking: Booking | None, places: list[tuple[int, int]] | None = None
) -> list[RuleViolation]:
    if places is None:
        places = observer_places(shift, observers, exclude_booking)
    busy = {person_id for person_id, shift_id in places if shift_id != shift.pk}
    for person in observers:
        if person.pk in busy:
            return [not_free(_name(person), person.pk)]
    return []


def not_free(name: str, person_id: int) -> RuleViolation:
    """An observer's clash, worded the same whatever it is (to requesters, being rostered is one too)."""
    return RuleViolation(
        gettext("%(name)s is not free at that time.") % {"name": name},
        code="observer_overlap",
        data={"observer": person_id},
    )


def clearance_covers(clearance: Clearance, shift: Shift) -> bool:
    # Clearance dates are read in the station's zone: a night ending on the 29th needs the 29th.
    start = shift.local_starts_at.date()
    end = shift.local_end_date
    return clearance.valid_from <= start and (clearance.valid_until is None or clearance.valid_until >= end)


def _uncovered(shift: Shift, observers: Sequence, clearances) -> list[tuple[object, str, bool]]:
    """(observer, kind, held but not valid for the whole shift) for each required kind not covering it."""
    required = list(settings.RIDEALONG_REQUIRED_CLEARANCES)
    if not required:
        return []
    if clearances is None:
        clearances = Clearance.objects.filter(person_id__in=[o.pk for o in observers], kind__in=required).order_by()
    held: dict[tuple[int, str], list[Clearance]] = {}
    for clearance in clearances:
        held.setdefault((clearance.person_id, clearance.kind), []).append(clearance)
    found = []
    for person in observers:
        for kind in required:
            mine = held.get((person.pk, kind), [])
            if not any(clearance_covers(c, shift) for c in mine):
                found.append((person, kind, bool(mine)))
    return found


def check_clearances(
    shift: Shift, observers: Sequence, clearances: Iterable[Clearance] | None = None
) -> list[RuleViolation]:
    """The kinds a lead or admin records (a DBS check): missing or short of the shift refuses the booking.
    Kinds signed online (SPEC §19) leave its paperwork outstanding instead (`paperwork_missing`)."""
    online = set(settings.RIDEALONG_ONLINE_CLEARANCES)
    gaps = [(p, k, had) for p, k, had in _uncovered(shift, observers, clearances) if k not in online]
    for person in observers:
        missing = [k for p, k, had in gaps if p.pk == person.pk and not had]
        expired = [k for p, k, had in gaps if p.pk == person.pk and had]
        if missing:
            return [
                RuleViolation(
                    gettext("%(name)s has no %(what)s on record.") % {"name": _name(person), "what": _words(missing)},
                    code="clearance_missing",
                    data={"observer": person.pk, "kind": missing[0], "kinds": missing},
                )
            ]
        if expired:
            return [
                RuleViolation(
                    ngettext(
                        "%(name)s's %(what)s is not valid for the whole shift.",
                        "%(name)s's %(what)s are not valid for the whole shift.",
                        len(expired),
                    )
                    % {"name": _name(person), "what": _words(expired)},
                    code="clearance_expired",
                    data={"observer": person.pk, "kind": expired[0], "kinds": expired},
                )
            ]
    return []


def paperwork_missing(shift: Shift, observers: Sequence, clearances=None) -> list[tuple[int, str]]:
    """(observer id, kind) for each kind signed online that does not cover the shift yet (SPEC §19)."""
    online = set(settings.RIDEALONG_ONLINE_CLEARANCES)
    return [(p.pk, k) for p, k, _had in _uncovered(shift, observers, clearances) if k in online]


CLEARANCE_WORDS = {
    "dbs": gettext_lazy("DBS check"),
    "confidentiality": gettext_lazy("confidentiality agreement"),
    "briefing": gettext_lazy("safety briefing"),
}


def _words(kinds: list[str]) -> str:
    """["dbs", "briefing"] -> "DBS check or safety briefing": every missing clearance, in words."""
    words = [CLEARANCE_WORDS.get(k, k.replace("_", " ")) for k in kinds]
    if len(words) == 1:
        return str(words[0])
    return gettext("%(some)s or %(last)s") % {"some": ", ".join(str(w) for w in words[:-1]), "last": words[-1]}


def check_ages(shift: Shift, observers: Sequence) -> list[RuleViolation]:
    minimum = shift.station.min_observer_age
    on = shift.local_starts_at.date()
    for person in observers:
        born = person.profile.date_of_birth
        if born is not None and age_on(born, on) < minimum:
            return [
                RuleViolation(
                    gettext("%(name)s must be at least %(age)s on the day of the shift.")
                    % {"name": _name(person), "age": minimum},
                    code="observer_too_young",
                    data={"observer": person.pk},
                )
            ]
    return []


def check_observer_limits(
    shift: Shift, observers: Sequence, exclude_booking: Booking | None, counts: dict[int, int] | None = None
) -> list[RuleViolation]:
    limit = shift.station.observer_limit_365d
    if limit is None:
        return []
    if counts is None:
        places = Place.objects.filter(
            person__in=observers,
            state=PlaceState.HELD,
            shift__station_id=shift.station_id,
            starts_at__gte=shift.starts_at - OBSERVER_LIMIT_WINDOW,
            starts_at__lte=shift.starts_at,
        )
        if exclude_booking is not None:
            places = places.exclude(booking=exclude_booking)
        counts = dict(
            places.values("person_id").annotate(n=Count("booking_id", distinct=True)).values_list("person_id", "n")
        )
    for person in observers:
        if counts.get(person.pk, 0) + 1 > limit:
            return [
                RuleViolation(
                    gettext("%(name)s has reached %(station)s's limit of %(n)s observations a year.")
                    % {"name": _name(person), "station": shift.station.name, "n": limit},
                    code="observer_limit",
                    data={"observer": person.pk},
                )
            ]
    return []


def hosting_starts(shift: Shift, person_ids: list[int], exclude_booking: Booking | None) -> dict[int, list[datetime]]:
    """For each crew member, the starts of the held bookings they host within 28 days either side."""
    bookings = Booking.objects.filter(
        status__in=HELD_STATUSES,
        shift__crew_members__person__in=person_ids,
        shift__crew_members__active=True,
        shift__starts_at__gt=shift.starts_at - HOSTING_WINDOW,
        shift__starts_at__lt=shift.starts_at + HOSTING_WINDOW,
    )
    if exclude_booking is not None:
        bookings = bookings.exclude(pk=exclude_booking.pk)
    starts: dict[int, list[datetime]] = {}
    for person_id, starts_at in bookings.values_list("shift__crew_members__person_id", "shift__starts_at"):
        starts.setdefault(person_id, []).append(starts_at)
    return starts


def crew_load(shift: Shift, crew: Sequence[CrewMember], hosting: dict[int, list[datetime]]) -> int:
    """The most held bookings any of the shift's crew hosts in the 28 days from 14 days before its start
    (SPEC §17): the fairest shift asks least of its busiest crew member."""
    start, end = shift.starts_at - HOSTING_WINDOW / 2, shift.starts_at + HOSTING_WINDOW / 2
    return max((sum(1 for t in hosting.get(c.person_id, []) if start <= t < end) for c in crew), default=0)


def busiest_window(starts: list[datetime], around: datetime) -> int:
    """The most starts in any [t, t+28 days) that contains `around` (which is itself counted)."""
    times = sorted([*starts, around])
    best = 0
    for t in times:
        if around - HOSTING_WINDOW < t <= around:
            best = max(best, sum(1 for s in times if t <= s < t + HOSTING_WINDOW))
    return best


def check_crew_hosting(
    shift: Shift,
    crew: Sequence[CrewMember],
    exclude_booking: Booking | None,
    hosting: dict[int, list[datetime]] | None = None,
) -> list[RuleViolation]:
    limit = shift.station.crew_hosting_limit
    if limit is None or not crew:
        return []
    if hosting is not None:
        starts = {
            person_id: [t for t in times if shift.starts_at - HOSTING_WINDOW < t < shift.starts_at + HOSTING_WINDOW]
            for person_id, times in hosting.items()
        }
    else:
        starts = hosting_starts(shift, [c.person_id for c in crew], exclude_booking)
    for member in crew:
        if busiest_window(starts.get(member.person_id, []), shift.starts_at) > limit:
            return [
                RuleViolation(
                    gettext(
                        "The crew of this shift have already agreed to host as many observers as they can "
                        "this month; choose another shift."
                    ),
                    code="crew_hosting_limit",
                )
            ]
    return []


@dataclass
class Known:
    """What the rules read about one party and many shifts, fetched once (open-request suggestions, §17).

    `places`: the party's held and waiting places as (person, shift, station, booking, state, starts, ends),
    from a year before the first shift to the last; `clearances`: theirs; `hosting`: for each crew member
    of the shifts, the starts of the held bookings they host around them.
    """

    places: list[tuple]
    clearances: list[Clearance]
    hosting: dict[int, list[datetime]]

    def clashes(self, shift: Shift) -> list[tuple[int, int]]:
        """`observer_places` for one shift, from what is known."""
        return [
            (person_id, shift_id)
            for person_id, shift_id, _, _, state, starts_at, ends_at in self.places
            if shift_id == shift.pk
            or (state == PlaceState.HELD and overlaps(starts_at, ends_at, shift.starts_at, shift.ends_at))
        ]

    def observer_counts(self, shift: Shift) -> dict[int, int]:
        """`check_observer_limits`' counts for one shift, from what is known."""
        since = shift.starts_at - OBSERVER_LIMIT_WINDOW
        seen = {
            (person_id, booking_id)
            for person_id, _, station_id, booking_id, state, starts_at, _ in self.places
            if state == PlaceState.HELD and station_id == shift.station_id and since <= starts_at <= shift.starts_at
        }
        counts: dict[int, int] = {}
        for person_id, _ in seen:
            counts[person_id] = counts.get(person_id, 0) + 1
        return counts


def load_known(shifts: Sequence[Shift], observers: Sequence, crews: dict[int, list[CrewMember]]) -> Known:
    """`Known` for these shifts (`crews`: each one's active crew, by shift id) and this party, in three queries."""
    if not shifts:
        return Known([], [], {})
    first = min(s.starts_at for s in shifts)
    last = max(s.ends_at for s in shifts)
    places = list(
        Place.objects.filter(
            person_id__in=[o.pk for o in observers],
            state__in=[PlaceState.HELD, PlaceState.WAITLISTED],
            starts_at__gte=first - OBSERVER_LIMIT_WINDOW - timedelta(days=1),
            starts_at__lt=last,
        )
        .order_by()
        .values_list("person_id", "shift_id", "shift__station_id", "booking_id", "state", "starts_at", "ends_at")
    )
    required = list(settings.RIDEALONG_REQUIRED_CLEARANCES)
    clearances = list(Clearance.objects.filter(person_id__in=[o.pk for o in observers], kind__in=required).order_by())
    crew_ids = {c.person_id for crew in crews.values() for c in crew}
    hosting: dict[int, list[datetime]] = {}
    rows = Booking.objects.filter(
        status__in=HELD_STATUSES,
        shift__crew_members__person__in=sorted(crew_ids),
        shift__crew_members__active=True,
        shift__starts_at__gt=first - HOSTING_WINDOW,
        shift__starts_at__lt=last + HOSTING_WINDOW,
    ).values_list("shift__crew_members__person_id", "shift__starts_at")
    for person_id, starts_at in rows:
        hosting.setdefault(person_id, []).append(starts_at)
    return Known(places, clearances, hosting)


def check_booking(
    *,
    shift: Shift,
    observers: Sequence,
    now: datetime,
    new_request: bool,
    exclude_booking: Booking | None = None,
    crew: Sequence[CrewMember] | None = None,
    placed: bool = False,
    known: Known | None = None,
) -> list[RuleViolation]:
    """Every rule of §5.2 but capacity, in a fixed order; the first failure comes first.

    `placed`: the station chose the shift (§17), so whether observers may choose one does not apply.
    `known`: the rows the rules read, fetched beforehand for many shifts (`load_known`).
    """
    if crew is None:
        crew = active_crew(shift)
    clashes: list[tuple[int, int]] = []

    def fetch_clashes():
        clashes.extend(known.clashes(shift) if known else observer_places(shift, observers, exclude_booking))
        return check_duplicates(shift, observers, exclude_booking, clashes)

    checks = [
        lambda: check_shift_open(shift, crew),
        lambda: check_not_started(shift, now),
        lambda: check_notice(shift, now) if new_request else [],
        lambda: check_suspension(shift),
        lambda: check_shift_choice(shift) if new_request and not placed else [],
        lambda: check_observers_not_crew(crew, observers),
        fetch_clashes,
        lambda: check_overlaps(shift, observers, exclude_booking, clashes),
        lambda: check_clearances(shift, observers, known.clearances if known else None),
        lambda: check_ages(shift, observers),
        lambda: check_observer_limits(
            shift, observers, exclude_booking, known.observer_counts(shift) if known else None
        ),
        lambda: check_crew_hosting(shift, crew, exclude_booking, known.hosting if known else None),
    ]
    for check in checks:
        violations = check()
        if violations:
            return violations
    return []


def held_observers(shift: Shift, exclude_booking: Booking | None = None) -> int:
    places = Place.objects.filter(shift=shift, state=PlaceState.HELD)
    if exclude_booking is not None:
        places = places.exclude(booking=exclude_booking)
    return places.count()


def seats_free(shift: Shift, *, held: int | None = None, day_held: int | None = None) -> int:
    """Places a new party could take now: the lesser of the shift's free seats and its station's free
    places that local date (SPEC §5.2 Capacity). The one answer the API, the pages and the services give.

    `held` is the shift's held places (its counter by default); `day_held` the held places at the station
    that local date, when the caller has them (a listing annotates them: `selectors.with_day_held`).
    """
    if held is None:
        held = shift.held_seats
    free = shift.observer_seats - held
    daily = shift.station.max_observers_per_day
    if daily is not None:
        if day_held is None:
            day_held = getattr(shift, "day_held", None)
        if day_held is None:
            day_held = day_places(shift).count()
        free = min(free, daily - day_held)
    return max(free, 0)


def day_places(shift: Shift):
    """Held places at the shift's station on its local date: what the daily cap counts."""
    return Place.objects.filter(
        state=PlaceState.HELD, shift__station_id=shift.station_id, shift__local_date=shift.local_date
    ).order_by()


def free_capacity(shift: Shift, exclude_booking: Booking | None = None, *, held: int | None = None) -> int:
    """`seats_free` counted afresh under the caller's locks, leaving a booking's own places out when given.

    `held` is the shift's held-places counter when the caller read it under the shift's lock.
    """
    if held is None:
        held = held_observers(shift, exclude_booking)
    day_held = None
    if shift.station.max_observers_per_day is not None:
        places = day_places(shift)
        if exclude_booking is not None:
            places = places.exclude(booking=exclude_booking)
        day_held = places.count()
    return seats_free(shift, held=held, day_held=day_held)


def no_seats() -> RuleViolation:
    return RuleViolation(
        gettext("There are not enough free places on this shift for everyone in the request."), code="no_seats"
    )


def shift_overlaps_for_crew(
    person_ids: Iterable[int], starts_at: datetime, ends_at: datetime, exclude_shift_id: int | None
) -> set[int]:
    """Crew members already rostered on a scheduled shift overlapping [starts_at, ends_at)."""
    rows = CrewMember.objects.filter(overlapping(starts_at, ends_at), person_id__in=list(person_ids), active=True)
    if exclude_shift_id is not None:
        rows = rows.exclude(shift_id=exclude_shift_id)
    return set(rows.values_list("person_id", flat=True))


def validate_shift_times(starts_at: datetime, ends_at: datetime) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    if starts_at.tzinfo is None:
        fields["starts_at"] = [gettext("Give the time with an offset or Z.")]
    if ends_at.tzinfo is None:
        fields["ends_at"] = [gettext("Give the time with an offset or Z.")]
    if fields:
        return fields
    # Subtract in UTC: Python ignores the offsets of two datetimes that share a tzinfo object.
    starts_at, ends_at = starts_at.astimezone(UTC), ends_at.astimezone(UTC)
    if ends_at <= starts_at:
        fields["ends_at"] = [gettext("The shift must end after it starts (end is not after start).")]
    elif ends_at - starts_at > timedelta(hours=24):
        fields["ends_at"] = [gettext("A shift lasts at most 24 hours.")]
    return fields
