"""Night shifts cross midnight and, twice a year, a clock change (SPEC §2)."""

from datetime import UTC, date, datetime, timedelta

import pytest

from scheduling import services
from scheduling.errors import Invalid
from tests.factories import local, make_person, make_resource, make_shift, make_station

BEFORE = datetime(2025, 9, 1, tzinfo=UTC)


@pytest.fixture
def ambulance(db):
    return make_resource(make_station("LGH", name="Loughborough"), "DA12")


def test_autumn_night_lasts_thirteen_hours(ambulance):
    shift = make_shift(ambulance, local(2025, 10, 25, 19), local(2025, 10, 26, 7), now=BEFORE)
    assert shift.ends_at - shift.starts_at == timedelta(hours=13)
    assert shift.local_date == date(2025, 10, 25)
    assert shift.starts_at == datetime(2025, 10, 25, 18, tzinfo=UTC)
    assert shift.ends_at == datetime(2025, 10, 26, 7, tzinfo=UTC)


def test_spring_night_lasts_eleven_hours(ambulance):
    shift = make_shift(ambulance, local(2026, 3, 28, 19), local(2026, 3, 29, 7), now=BEFORE)
    assert shift.ends_at - shift.starts_at == timedelta(hours=11)
    assert shift.local_date == date(2026, 3, 28)
    assert shift.ends_at == datetime(2026, 3, 29, 6, tzinfo=UTC)


def test_night_and_next_days_shift_overlap_only_when_they_really_do(ambulance):
    observer = make_person("obs", requester=True)
    night = make_shift(ambulance, local(2025, 10, 25, 19), local(2025, 10, 26, 7), now=BEFORE)
    other = make_resource(make_station("MEL"), "DA40")
    next_day = make_shift(other, local(2025, 10, 26, 7), local(2025, 10, 26, 19), now=BEFORE)
    early = make_shift(other, local(2025, 10, 26, 6, 30), local(2025, 10, 26, 18), now=BEFORE)
    services.request_booking(actor=observer, shift_id=night.pk, purpose="Nights", now=BEFORE)
    assert (
        services.request_booking(actor=observer, shift_id=next_day.pk, purpose="Days", now=BEFORE).status == "pending"
    )
    with pytest.raises(Exception) as caught:
        services.request_booking(actor=observer, shift_id=early.pk, purpose="Early", now=BEFORE)
    assert caught.value.code == "observer_overlap"


def test_crew_member_cannot_be_rostered_on_overlapping_shifts(ambulance):
    medic = make_person("medic", cleared=False)
    make_shift(ambulance, local(2026, 3, 28, 19), local(2026, 3, 29, 7), crew=[(medic, "paramedic")], now=BEFORE)
    back_to_back = make_shift(
        ambulance, local(2026, 3, 29, 7), local(2026, 3, 29, 19), crew=[(medic, "paramedic")], now=BEFORE
    )
    assert back_to_back.pk
    with pytest.raises(Invalid) as caught:
        make_shift(ambulance, local(2026, 3, 29, 6), local(2026, 3, 29, 8), crew=[(medic, "paramedic")], now=BEFORE)
    assert "crew" in caught.value.fields


def test_shifts_longer_than_a_day_or_ending_before_they_start_are_refused(ambulance):
    with pytest.raises(Invalid):
        make_shift(ambulance, local(2026, 1, 1, 7), local(2026, 1, 2, 7, 1), now=BEFORE)
    with pytest.raises(Invalid):
        make_shift(ambulance, local(2026, 1, 1, 7), local(2026, 1, 1, 7), now=BEFORE)
    with pytest.raises(Invalid):
        make_shift(ambulance, datetime(2026, 1, 1, 7), datetime(2026, 1, 1, 19), now=BEFORE)  # naive
