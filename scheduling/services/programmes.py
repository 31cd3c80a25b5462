"""Programmes: development schemes with targets, and each member's progress against them (SPEC §18)."""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .. import access, dates, notifications
from ..errors import Forbidden, Invalid, NotFound
from ..languages import writing_to
from ..models import BookingStatus, Outcome, Place, PlaceState, Programme, display_name
from ..text import ensure_single_line
from .base import lock_persons, record_event, write_transaction

User = get_user_model()

TARGETS = ("target_ride_alongs", "target_nights", "target_hours", "target_stations")
MEASURES = ("ride_alongs", "nights", "hours", "stations")
COUNTED = (Outcome.ATTENDED, Outcome.ENDED_EARLY)
# Worst first: a member's state is the worst of their measures'.
ORDER = ("behind", "on_track", "met")


def _check(fields: dict) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    if "name" in fields and not str(fields["name"] or "").strip():
        problems["name"] = [_("Enter the programme's name")]
    start, end = fields.get("starts_on"), fields.get("ends_on")
    if start and end and end < start:
        problems["ends_on"] = [_("The programme must end on or after the day it starts")]
    for key in TARGETS:
        value = fields.get(key)
        if value is not None and value < 0:
            problems[key] = [_("Enter a target of 0 or more, or leave it empty")]
    return problems


def _people(ids, field: str) -> list:
    ids = sorted(set(ids or []))
    found = list(User.objects.filter(pk__in=ids, is_active=True).values_list("pk", flat=True))
    missing = [i for i in ids if i not in found]
    if missing:
        raise Invalid(
            _("Some of the people named are not known."),
            fields={field: [_("No active person has id %(id)s.") % {"id": missing[0]}]},
        )
    return ids


def _record_membership(programme: Programme, person_id: int, *, actor, action: str, now: datetime) -> None:
    # In the member's own history: which programme they joined or left, and who did it.
    record_event(booking=None, subject=User(pk=person_id), actor=actor, action=action, now=now, note=programme.name)


def create_programme(
    *, actor, now: datetime, name: str, starts_on: date, ends_on: date, coordinators=(), members=(), **targets
) -> Programme:
    """An admin sets up a programme, its coordinators and (optionally) its first members."""
    if not access.is_admin(actor):
        raise Forbidden(_("Only admins set up programmes."))
    ensure_single_line(name=name)
    problems = _check({"name": name, "starts_on": starts_on, "ends_on": ends_on, **targets})
    if problems:
        raise Invalid(_("Some of the programme is not valid."), fields=problems)
    coordinator_ids, member_ids = _people(coordinators, "coordinators"), _people(members, "members")
    with write_transaction():
        programme = Programme.objects.create(
            name=name.strip(), starts_on=starts_on, ends_on=ends_on, **{k: targets.get(k) for k in TARGETS}
        )
        programme.coordinators.set(coordinator_ids)
        programme.members.set(member_ids)
        record_event(booking=None, actor=actor, action="programme_created", now=now, note=programme.name)
        for person_id in member_ids:
            _record_membership(programme, person_id, actor=actor, action="programme_joined", now=now)
    return programme


def update_programme(*, actor, programme_id: int, now: datetime, **changes) -> Programme:
    """An admin changes a programme's name, dates, coordinators or targets."""
    if not access.is_admin(actor):
        raise Forbidden(_("Only admins change programmes."))
    with write_transaction():
        programme = Programme.objects.select_for_update().filter(pk=programme_id).first()
        if programme is None:
            raise NotFound(_("No programme with that id."))
        merged = {k: changes.get(k, getattr(programme, k)) for k in ("name", "starts_on", "ends_on", *TARGETS)}
        if "name" in changes:
            ensure_single_line(name=changes["name"])
        problems = _check(merged)
        if problems:
            raise Invalid(_("Some of the programme is not valid."), fields=problems)
        fields = [k for k in ("name", "starts_on", "ends_on", *TARGETS) if k in changes]
        for key in fields:
            setattr(programme, key, changes[key].strip() if key == "name" else changes[key])
        if fields:
            programme.save(update_fields=fields)
        if "coordinators" in changes:
            programme.coordinators.set(_people(changes["coordinators"], "coordinators"))
        changed = sorted({*fields, *(["coordinators"] if "coordinators" in changes else [])})
        if changed:
            # Which settings changed, in the programme's own words; the admins' audit list shows it.
            note = f"{programme.name}: {', '.join(changed)}"
            record_event(booking=None, actor=actor, action="programme_changed", now=now, note=note)
    return programme


def _programme_for_change(actor, programme_id: int) -> Programme:
    programme = access.access_programme(actor, programme_id)
    if not access.coordinates(actor, programme):
        raise Forbidden(_("Only the programme's coordinators and admins change its members."))
    return programme


def add_member(*, actor, programme_id: int, person_id: int, now: datetime) -> Programme:
    programme = _programme_for_change(actor, programme_id)
    _people([person_id], "person")
    with write_transaction():
        lock_persons([person_id])
        if not programme.members.filter(pk=person_id).exists():
            try:
                programme.members.add(person_id)
            except IntegrityError:
                pass  # added meanwhile: the outcome is the same
            else:
                _record_membership(programme, person_id, actor=actor, action="programme_joined", now=now)
    return programme


def set_members(*, actor, programme_id: int, person_ids, now: datetime) -> Programme:
    """Make the members exactly these (the admin's form, a PATCH): each joining and leaving as its own event."""
    programme = _programme_for_change(actor, programme_id)
    wanted = set(_people(person_ids, "members"))
    current = set(programme.members.values_list("pk", flat=True))
    for person_id in sorted(wanted - current):
        add_member(actor=actor, programme_id=programme.pk, person_id=person_id, now=now)
    for person_id in sorted(current - wanted):
        remove_member(actor=actor, programme_id=programme.pk, person_id=person_id, now=now)
    return programme


def remove_member(*, actor, programme_id: int, person_id: int, now: datetime) -> Programme:
    programme = _programme_for_change(actor, programme_id)
    with write_transaction():
        if not programme.members.filter(pk=person_id).exists():
            raise NotFound(_("That person is not a member of this programme."))
        programme.members.remove(person_id)
        _record_membership(programme, person_id, actor=actor, action="programme_left", now=now)
    return programme


@dataclass
class RideAlong:
    """One counted ride-along, as a coordinator may see it: never its crew, purpose or reflections."""

    person_id: int
    local_date: date
    station_id: int
    station_name: str
    call_sign: str
    night: bool
    hours: Decimal
    outcome: str


def counted_ride_alongs(programme: Programme, person_ids) -> list[RideAlong]:
    """What counts for the members (SPEC §18), in one query: their place held to the end of an approved
    booking that was attended or ended early, on a shift whose local date is within the programme's dates."""
    rows = (
        Place.objects.filter(
            person_id__in=list(person_ids),
            state=PlaceState.HELD,
            booking__status=BookingStatus.APPROVED,
            booking__outcome__in=COUNTED,
            shift__local_date__gte=programme.starts_on,
            shift__local_date__lte=programme.ends_on,
        )
        .order_by("shift__starts_at", "id")
        .values_list(
            "person_id",
            "shift__local_date",
            "shift__station_id",
            "shift__station__name",
            "shift__resource__call_sign",
            "shift__is_night",
            "shift__starts_at",
            "shift__ends_at",
            "booking__left_at",
            "booking__outcome",
        )
    )
    found = []
    for person_id, day, station_id, station_name, call_sign, night, starts, ends, left, outcome in rows:
        # Real elapsed time, in UTC: 13 hours for the autumn clock-change night, 11 for the spring one.
        until = left if outcome == Outcome.ENDED_EARLY and left is not None else ends
        hours = Decimal((until - starts).total_seconds()) / Decimal(3600)
        found.append(RideAlong(person_id, day, station_id, station_name, call_sign, night, hours, outcome))
    return found


def share_gone(programme: Programme, today: date) -> float:
    """The share of the programme's days gone by (0 on its first day, 1 once it has ended)."""
    total = (programme.ends_on - programme.starts_on).days + 1
    gone = min(max((today - programme.starts_on).days, 0), total)
    return gone / total


def measure(done, target, *, programme: Programme, today: date) -> dict:
    if target is None:
        return {"done": done, "target": None, "state": None}
    if today < programme.starts_on:
        state = "not_started"
    elif done >= target:
        state = "met"
    elif done >= float(target) * share_gone(programme, today):
        state = "on_track"
    else:
        state = "behind"
    return {"done": done, "target": float(target) if isinstance(target, Decimal) else target, "state": state}


def progress_rows(programme: Programme, members: list, *, today: date) -> list[dict]:
    """Each member's progress against the programme's targets, in one query for all of them."""
    mine: dict[int, list[RideAlong]] = {m.pk: [] for m in members}
    for ride in counted_ride_alongs(programme, mine):
        mine[ride.person_id].append(ride)
    rows = []
    for member in members:
        rides = mine[member.pk]
        done = {
            "ride_alongs": len(rides),
            "nights": sum(1 for r in rides if r.night),
            "hours": float(round(sum((r.hours for r in rides), Decimal(0)), 1)),
            "stations": len({r.station_id for r in rides}),
        }
        row = {"person": {"id": member.pk, "name": display_name(member)}}
        for key, target in zip(MEASURES, TARGETS, strict=True):
            row[key] = measure(done[key], getattr(programme, target), programme=programme, today=today)
        states = [row[k]["state"] for k in MEASURES if row[k]["state"] is not None]
        if not states:
            row["state"] = None
        elif "not_started" in states:
            row["state"] = "not_started"
        else:
            row["state"] = min(states, key=ORDER.index)
        rows.append(row)
    return rows


def today_for(now: datetime | None = None) -> date:
    # A programme's dates are the trust's own (TIME_ZONE), not any one station's.
    return timezone.localdate(now or timezone.now())


def queue_nudges(*, now: datetime) -> int:
    """On the 1st of a month: each member behind on a target is told what remains (once a month, unless they
    turned reminders off), and each coordinator gets a summary of who is behind (once a programme a month)."""
    today = today_for(now)
    if today.day != 1:
        return 0
    month = f"{today:%Y-%m}"
    behind: dict[int, tuple] = {}
    queued = 0
    live = Programme.objects.filter(starts_on__lte=today, ends_on__gte=today).prefetch_related("coordinators")
    for programme in live:
        members = list(programme.members.select_related("profile").order_by("pk"))
        late = []
        for member, row in zip(members, progress_rows(programme, members, today=today), strict=True):
            with writing_to(member):
                remaining = [
                    _("%(programme)s: %(left)s more %(measure)s by %(end)s")
                    % {
                        "programme": programme.name,
                        "left": _left(row[key]),
                        "measure": WORDS[key],
                        "end": dates.written(programme.ends_on, "j M Y"),
                    }
                    for key in MEASURES
                    if row[key]["state"] == "behind"
                ]
            if remaining:
                late.append(row["person"]["name"])
                behind.setdefault(member.pk, (member, []))[1].extend(remaining)
        with write_transaction():
            for coordinator in programme.coordinators.all():
                with writing_to(coordinator):
                    queue_summary(coordinator, programme, late, now=now, month=month)
                queued += 1
    with write_transaction():
        for member, remaining in behind.values():
            if not member.profile.reminders:
                continue
            with writing_to(member):
                notifications.queue_note(
                    member,
                    "programme_nudge",
                    subject=_("Your ride-along targets for this month"),
                    headline=_("You are behind on a target. Here is what remains:"),
                    lines=remaining,
                    links=[
                        (_("Find shifts"), settings.SITE_URL + reverse("web:shifts")),
                        (_("Ask for a date"), settings.SITE_URL + reverse("web:ask-date")),
                    ],
                    now=now,
                    dedupe=f"programme-nudge:{month}",
                )
            queued += 1
    return queued


def queue_summary(coordinator, programme, late: list[str], *, now: datetime, month: str) -> None:
    """A coordinator's monthly summary of who is behind, in their language."""
    lines = late or [_("No one is behind.")]
    notifications.queue_note(
        coordinator,
        "programme_summary",
        subject=_("%(programme)s: who is behind this month") % {"programme": programme.name},
        headline=_("Members behind on a target of %(programme)s:") % {"programme": programme.name},
        lines=lines,
        links=[(_("See the programme"), settings.SITE_URL + reverse("web:programme", args=[programme.pk]))],
        now=now,
        dedupe=f"programme-summary:{programme.pk}:{month}",
    )


WORDS = {
    "ride_alongs": gettext_lazy("ride-alongs"),
    "nights": gettext_lazy("nights"),
    "hours": gettext_lazy("hours"),
    "stations": gettext_lazy("stations"),
}


def _left(measure: dict):
    left = float(measure["target"]) - float(measure["done"])
    return f"{left:g}"
