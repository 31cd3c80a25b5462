"""The rota import (SPEC §7): parse and check a whole file first, then apply it all or not at all."""

import csv
import io
import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.db import transaction

from .. import rules
from ..errors import BookingError
from ..models import CrewRole, Profile, Resource, Shift, ShiftStatus, Station
from .shifts import ShiftChange, apply_shift_change, create_shift

User = get_user_model()

COLUMNS = ["shift_ref", "station", "resource", "start", "end", "crew", "observer_seats", "status"]


@dataclass
class RotaRow:
    line: int
    ref: str
    station: Station
    resource: Resource
    starts_at: datetime
    ends_at: datetime
    crew: list[tuple[int, str]]
    seats: int | None
    status: str


@dataclass
class RotaReport:
    errors: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class _DryRun(Exception):
    pass


def parse_local(text: str, tz: zoneinfo.ZoneInfo) -> datetime:
    """A station-local wall time, or a time with an offset; refuses times a clock change skips or repeats."""
    text = text.strip()
    if not text:
        raise ValueError("is empty")
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date and time like 2026-11-28 19:00") from None
    if value.tzinfo is not None:
        return value.astimezone(UTC)
    first, second = value.replace(tzinfo=tz, fold=0), value.replace(tzinfo=tz, fold=1)
    if first.utcoffset() != second.utcoffset():
        # Round-tripping tells a skipped wall time (spring) from a repeated one (autumn).
        if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != value:
            raise ValueError(f"{text} does not exist in {tz.key} (the clocks go forward)")
        raise ValueError(f"{text} happens twice in {tz.key} (the clocks go back); give it with an offset")
    return first.astimezone(UTC)


@dataclass
class _Known:
    """What a rota's names and numbers refer to, read once per file."""

    stations: dict[str, Station]
    resources: dict[tuple[int, str], Resource]
    staff: dict[str, int]  # staff number -> person id

    @classmethod
    def load(cls) -> "_Known":
        staff = Profile.objects.exclude(staff_number=None).filter(user__is_active=True)
        return cls(
            stations={s.code: s for s in Station.objects.all()},
            resources={(r.station_id, r.call_sign): r for r in Resource.objects.all()},
            staff=dict(staff.values_list("staff_number", "user_id")),
        )


def read_rota(raw: bytes) -> tuple[list[RotaRow], list[str]]:
    """Parse and check every row; return the rows and every problem, each named by line number."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], ["the file is not UTF-8 text"]
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        return [], [f"line 1: missing column(s): {', '.join(missing)}"]
    reader.fieldnames = header
    known = _Known.load()
    rows: list[RotaRow] = []
    errors: list[str] = []
    seen_refs: dict[str, int] = {}
    for record in reader:
        problems: list[str] = []
        row = _read_row(record, reader.line_num, known, seen_refs, problems)
        if problems:
            errors.extend(f"line {reader.line_num}: {p}" for p in problems)
        else:
            rows.append(row)
    errors.extend(_crew_overlaps(rows))
    return rows, errors


def _read_row(record: dict, line: int, known: _Known, seen_refs: dict[str, int], problems: list[str]) -> RotaRow:
    """One line of the file, each column checked; what is wrong goes into `problems`."""
    if None in record:
        problems.append("has more fields than the header")
    value = {k: (record.get(k) or "").strip() for k in COLUMNS}
    ref = _read_ref(value["shift_ref"], line, seen_refs, problems)
    station, resource = _read_place(value["station"], value["resource"], known, problems)
    starts_at, ends_at = _read_times(value["start"], value["end"], station, problems)
    crew = _read_crew(value["crew"], known.staff, problems)
    seats = _read_seats(value["observer_seats"], problems)
    status = value["status"] or ShiftStatus.SCHEDULED
    if status not in ShiftStatus.values:
        problems.append(f"status {status!r} is not scheduled or cancelled")
    return RotaRow(line, ref, station, resource, starts_at, ends_at, crew, seats, status)


def _read_ref(ref: str, line: int, seen_refs: dict[str, int], problems: list[str]) -> str:
    if not ref:
        problems.append("shift_ref is empty")
    elif ref in seen_refs:
        problems.append(f"shift_ref {ref} is also on line {seen_refs[ref]}")
    else:
        seen_refs[ref] = line
    return ref


def _read_place(code: str, call_sign: str, known: _Known, problems: list[str]):
    station = known.stations.get(code)
    if station is None:
        problems.append(f"unknown station {code!r}")
        return None, None
    resource = known.resources.get((station.pk, call_sign))
    if resource is None:
        problems.append(f"unknown resource {call_sign!r} at {station.code}")
    return station, resource


def _read_times(start: str, end: str, station: Station | None, problems: list[str]):
    if station is None:
        return None, None
    times = []
    for name, text in (("start", start), ("end", end)):
        try:
            times.append(parse_local(text, station.tz))
        except ValueError as error:
            problems.append(f"{name} {error}")
            times.append(None)
    starts_at, ends_at = times
    if starts_at and ends_at:
        # The same check as the API's, from rules.py.
        problems.extend(m for ms in rules.validate_shift_times(starts_at, ends_at).values() for m in ms)
    return starts_at, ends_at


def _read_crew(text: str, staff: dict[str, int], problems: list[str]) -> list[tuple[int, str]]:
    """`staff_number:role` entries separated by semicolons."""
    crew: list[tuple[int, str]] = []
    for entry in filter(None, (e.strip() for e in text.split(";"))):
        number, _, role = entry.partition(":")
        number, role = number.strip(), role.strip()
        if number not in staff:
            problems.append(f"unknown staff number {number!r}")
        elif role not in CrewRole.values:
            problems.append(f"unknown crew role {role!r} for {number}")
        elif any(p == staff[number] for p, _ in crew):
            problems.append(f"staff number {number} is listed twice")
        else:
            crew.append((staff[number], role))
    return crew


def _read_seats(text: str, problems: list[str]) -> int | None:
    if not text:
        return None  # the resource's own number
    if not text.isdigit() or int(text) > 100:
        problems.append(f"observer_seats {text!r} is not a whole number from 0 to 100")
        return None
    return int(text)


def _crew_overlaps(rows: list[RotaRow]) -> list[str]:
    """A crew member on two overlapping shifts, within the file or against shifts the file leaves alone."""
    refs = {r.ref for r in rows}
    intervals: dict[int, list[tuple[datetime, datetime, str]]] = {}
    for row in rows:
        if row.status != ShiftStatus.SCHEDULED:
            continue
        for person_id, _ in row.crew:
            intervals.setdefault(person_id, []).append((row.starts_at, row.ends_at, f"line {row.line}"))
    if intervals:
        lo = min(s for spans in intervals.values() for s, _, _ in spans)
        hi = max(e for spans in intervals.values() for _, e, _ in spans)
        existing = (
            Shift.objects.filter(
                rules.overlapping(lo, hi),
                status=ShiftStatus.SCHEDULED,
                crew_members__person_id__in=list(intervals),
            )
            .exclude(external_ref__in=refs)
            .values_list("crew_members__person_id", "starts_at", "ends_at", "external_ref", "pk")
        )
        for person_id, start, end, ref, pk in existing:
            intervals[person_id].append((start, end, f"existing shift {ref or pk}"))
    errors = []
    names = dict(Profile.objects.filter(pk__in=list(intervals)).values_list("pk", "staff_number"))
    for person_id, spans in intervals.items():
        spans.sort()
        for (s1, e1, w1), (s2, e2, w2) in zip(spans, spans[1:], strict=False):
            if rules.overlaps(s1, e1, s2, e2):
                where = w2 if w2.startswith("line") else w1
                other = w1 if where == w2 else w2
                errors.append(f"{where}: staff number {names.get(person_id)} is also on {other} at that time")
    return sorted(set(errors), key=lambda e: int(e.split(":")[0].split()[1]) if e.startswith("line") else 0)


def import_rota(raw: bytes, *, now: datetime, dry_run: bool = False) -> RotaReport:
    """Upsert shifts by shift_ref, all or nothing; bookings follow through apply_shift_change."""
    rows, errors = read_rota(raw)
    report = RotaReport(errors=errors)
    if errors:
        return report
    try:
        with transaction.atomic():
            existing = {s.external_ref: s for s in Shift.objects.filter(external_ref__in=[r.ref for r in rows])}
            # First take leavers off shifts, so that crew swapped between two shifts never clash midway.
            trimmed: set[str] = set()
            for row in rows:
                shift = existing.get(row.ref)
                if shift is None:
                    continue
                keep = {p for p, _ in row.crew}
                old = list(shift.crew_members.values_list("person_id", "role"))
                staying = [(p, r) for p, r in old if p in keep]
                if len(staying) != len(old):
                    trimmed.add(row.ref)
                    apply_shift_change(shift_id=shift.pk, actor=None, change=ShiftChange(crew=staying), now=now)
            for row in rows:
                shift = existing.get(row.ref)
                seats = row.seats if row.seats is not None else row.resource.observer_seats
                if shift is None:
                    create_shift(
                        actor=None,
                        resource_id=row.resource.pk,
                        starts_at=row.starts_at,
                        ends_at=row.ends_at,
                        observer_seats=seats,
                        external_ref=row.ref,
                        crew=row.crew,
                        status=row.status,
                        now=now,
                    )
                    report.created.append(row.ref)
                    continue
                change = ShiftChange(
                    starts_at=row.starts_at,
                    ends_at=row.ends_at,
                    observer_seats=seats,
                    status=row.status,
                    resource_id=row.resource.pk,
                    crew=row.crew,
                )
                _, changed = apply_shift_change(shift_id=shift.pk, actor=None, change=change, now=now)
                (report.updated if changed or row.ref in trimmed else report.unchanged).append(row.ref)
            if dry_run:
                raise _DryRun()
    except _DryRun:
        pass
    except BookingError as error:
        report.errors.append(f"the import was rolled back: {error.detail}")
        report.created, report.updated, report.unchanged = [], [], []
    return report
