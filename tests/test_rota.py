"""The rota import (SPEC §7): realistic files, bad files, re-imports and what bookings do."""

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command

from scheduling import services
from scheduling.models import Booking, Notification, Shift
from scheduling.services.rota import import_rota
from tests.factories import make_person, make_resource, make_station

NOW = datetime(2026, 10, 1, 12, tzinfo=UTC)
HEADER = ["shift_ref", "station", "resource", "start", "end", "crew", "observer_seats", "status"]


def to_csv(rows) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode()


@pytest.fixture
def trust(db):
    stations = {}
    crews = {}
    for code in ("LGH", "MEL", "HNK"):
        station = make_station(code, name=code.title())
        make_resource(station, f"{code}1", seats=2)
        stations[code] = station
        crews[code] = [make_person(f"{code.lower()}{i}", cleared=False) for i in range(4)]
    return stations, crews


def four_weeks(crews, start=date(2026, 10, 12)):
    rows = []
    for code, people in crews.items():
        day_crew = f"{people[0].profile.staff_number}:paramedic;{people[1].profile.staff_number}:technician"
        night_crew = f"{people[2].profile.staff_number}:paramedic;{people[3].profile.staff_number}:technician"
        for offset in range(28):
            d = start + timedelta(days=offset)
            n = d + timedelta(days=1)
            rows.append([f"{code}-{d:%Y%m%d}-D", code, f"{code}1", f"{d} 07:00", f"{d} 19:00", day_crew, "", ""])
            rows.append(
                [f"{code}-{d:%Y%m%d}-N", code, f"{code}1", f"{d} 19:00", f"{n} 07:00", night_crew, "", "scheduled"]
            )
    # The spring-forward night, months earlier, at one station.
    people = crews["LGH"]
    rows.append(
        [
            "LGH-20260328-N",
            "LGH",
            "LGH1",
            "2026-03-28 19:00",
            "2026-03-29 07:00",
            f"{people[2].profile.staff_number}:paramedic",
            "1",
            "",
        ]
    )
    return rows


def test_four_weeks_at_three_stations_with_both_clock_change_nights(trust):
    _, crews = trust
    report = import_rota(to_csv(four_weeks(crews)), now=NOW)
    assert report.ok, report.errors
    assert Shift.objects.count() == 3 * 28 * 2 + 1
    autumn = Shift.objects.get(external_ref="LGH-20261024-N")
    spring = Shift.objects.get(external_ref="LGH-20260328-N")
    assert autumn.ends_at - autumn.starts_at == timedelta(hours=13)
    assert spring.ends_at - spring.starts_at == timedelta(hours=11)
    assert spring.observer_seats == 1 and autumn.observer_seats == 2
    assert autumn.crew_members.count() == 2


def test_a_file_with_bad_rows_imports_nothing_and_names_every_bad_row(trust):
    _, crews = trust
    p = crews["LGH"]
    good_crew = f"{p[0].profile.staff_number}:paramedic"
    rows = [
        ["OK-1", "LGH", "LGH1", "2026-11-02 07:00", "2026-11-02 19:00", good_crew, "", ""],  # line 2: fine
        ["BAD-1", "XYZ", "LGH1", "2026-11-02 07:00", "2026-11-02 19:00", "", "", ""],  # line 3
        ["BAD-2", "LGH", "NOPE", "2026-11-03 07:00", "2026-11-03 19:00", "", "", ""],  # line 4
        ["BAD-3", "LGH", "LGH1", "2026-11-03 07:00", "2026-11-04 08:00", "", "", ""],  # line 5: 25 hours
        ["BAD-4", "LGH", "LGH1", "2026-11-04 19:00", "2026-11-04 07:00", "", "", ""],  # line 6: end before start
        ["BAD-5", "LGH", "LGH1", "2026-03-29 01:30", "2026-03-29 09:00", "", "", ""],  # line 7: does not exist
        ["BAD-6", "LGH", "LGH1", "2026-10-25 01:30", "2026-10-25 09:00", "", "", ""],  # line 8: ambiguous
        ["BAD-7", "LGH", "LGH1", "2026-11-05 07:00", "2026-11-05 19:00", "S99999:paramedic", "", ""],  # line 9
        ["BAD-8", "LGH", "LGH1", "2026-11-02 18:00", "2026-11-02 23:00", good_crew, "", ""],  # line 10: overlap
        ["BAD-9", "LGH", "LGH1", "2026-11-06 07:00", "2026-11-06 19:00", "", "lots", "maybe"],  # line 11
    ]
    report = import_rota(to_csv(rows), now=NOW)
    assert not Shift.objects.exists()
    lines = {int(e.split(":")[0].split()[1]) for e in report.errors}
    assert lines == set(range(3, 12))
    text = "\n".join(report.errors)
    for phrase in (
        "unknown station 'XYZ'",
        "unknown resource 'NOPE'",
        "at most 24 hours",
        "end is not after start",
        "does not exist",
        "happens twice",
        "unknown staff number 'S99999'",
        "also on line 2",
        "observer_seats",
        "status 'maybe'",
    ):
        assert phrase in text


def test_overlap_against_the_database_is_a_bad_row(trust):
    _, crews = trust
    medic = crews["MEL"][0].profile.staff_number
    import_rota(
        to_csv([["A", "MEL", "MEL1", "2026-11-02 07:00", "2026-11-02 19:00", f"{medic}:paramedic", "", ""]]), now=NOW
    )
    report = import_rota(
        to_csv([["B", "LGH", "LGH1", "2026-11-02 12:00", "2026-11-02 20:00", f"{medic}:paramedic", "", ""]]), now=NOW
    )
    assert report.errors == [f"line 2: staff number {medic} is also on existing shift A at that time"]


def test_importing_the_same_file_twice_changes_nothing(trust):
    _, crews = trust
    raw = to_csv(four_weeks(crews))
    import_rota(raw, now=NOW)
    requester = make_person(requester=True)
    shift = Shift.objects.get(external_ref="MEL-20261020-D")
    booking = services.request_booking(actor=requester, shift_id=shift.pk, purpose="x", now=NOW)
    report = import_rota(raw, now=NOW)
    assert (len(report.created), len(report.updated), len(report.unchanged)) == (0, 0, 3 * 56 + 1)
    booking.refresh_from_db()
    assert booking.revision == 1


def test_a_moved_shift_rechecks_bookings_bumps_revision_and_tells_observers(trust):
    _, crews = trust
    rows = four_weeks(crews)
    import_rota(to_csv(rows), now=NOW)
    requester = make_person(requester=True)
    shift = Shift.objects.get(external_ref="HNK-20261020-N")
    booking = services.request_booking(actor=requester, shift_id=shift.pk, purpose="x", now=NOW)
    moved = [r if r[0] != "HNK-20261020-N" else [*r[:3], "2026-10-20 20:00", "2026-10-21 08:00", *r[5:]] for r in rows]
    report = import_rota(to_csv(moved), now=NOW)
    assert report.updated == ["HNK-20261020-N"]
    booking.refresh_from_db()
    assert (booking.status, booking.revision) == ("pending", 2)
    assert Notification.objects.filter(booking=booking, recipient=requester, kind="shift_changed").exists()


def test_cancelled_shift_and_crew_swap(trust):
    _, crews = trust
    rows = four_weeks(crews)
    import_rota(to_csv(rows), now=NOW)
    requester = make_person(requester=True)
    day = Shift.objects.get(external_ref="LGH-20261020-D")
    night = Shift.objects.get(external_ref="LGH-20261020-N")
    on_day = services.request_booking(actor=requester, shift_id=day.pk, purpose="x", now=NOW)
    on_night = services.request_booking(actor=make_person(requester=True), shift_id=night.pk, purpose="x", now=NOW)
    p = crews["LGH"]
    swapped_night = f"{p[3].profile.staff_number}:paramedic;{p[2].profile.staff_number}:technician"
    changed = []
    for r in rows:
        if r[0] == "LGH-20261020-D":
            r = [*r[:7], "cancelled"]
        if r[0] == "LGH-20261020-N":
            r = [*r[:5], swapped_night, *r[6:]]
        changed.append(r)
    report = import_rota(to_csv(changed), now=NOW)
    assert report.ok, report.errors
    on_day.refresh_from_db()
    on_night.refresh_from_db()
    assert (on_day.status, on_day.cancel_reason) == ("cancelled", "shift_cancelled")
    roles = dict(night.crew_members.values_list("person_id", "role"))
    assert roles == {p[3].pk: "paramedic", p[2].pk: "technician"}
    assert on_night.status == "pending"


def test_crew_swapped_between_two_simultaneous_shifts_imports(trust):
    stations, crews = trust
    make_resource(stations["LGH"], "LGH2")
    p = crews["LGH"]
    a, b = p[0].profile.staff_number, p[1].profile.staff_number
    first = [
        ["X1", "LGH", "LGH1", "2026-11-02 07:00", "2026-11-02 19:00", f"{a}:paramedic", "", ""],
        ["X2", "LGH", "LGH2", "2026-11-02 07:00", "2026-11-02 19:00", f"{b}:paramedic", "", ""],
    ]
    assert import_rota(to_csv(first), now=NOW).ok
    swapped = [[*first[0][:5], f"{b}:paramedic", "", ""], [*first[1][:5], f"{a}:paramedic", "", ""]]
    report = import_rota(to_csv(swapped), now=NOW)
    assert report.ok, report.errors
    assert Shift.objects.get(external_ref="X1").crew_members.get().person_id == p[1].pk


def test_dry_run_reports_and_changes_nothing(trust, capsys, tmp_path):
    _, crews = trust
    path = tmp_path / "rota.csv"
    path.write_bytes(to_csv(four_weeks(crews)))
    call_command("import_rota", str(path), "--dry-run")
    assert "Would import: 169 new" in capsys.readouterr().out
    assert not Shift.objects.exists()
    call_command("import_rota", str(path))
    assert Shift.objects.count() == 169


def test_command_fails_loudly_on_a_bad_file(trust, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"\xff\xfe not a csv")
    with pytest.raises(CommandError):
        call_command("import_rota", str(path))
    path.write_text("shift_ref,station\nA,LGH\n")
    with pytest.raises(CommandError):
        call_command("import_rota", str(path))
    with pytest.raises(CommandError):
        call_command("import_rota", str(tmp_path / "missing.csv"))


def test_offsets_in_the_file_are_honoured(trust):
    report = import_rota(
        to_csv([["O1", "LGH", "LGH1", "2026-10-25T01:30:00+01:00", "2026-10-25T09:00:00Z", "", "", ""]]), now=NOW
    )
    assert report.ok, report.errors
    shift = Shift.objects.get()
    assert shift.starts_at == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert Booking.objects.count() == 0
