"""Questions asked in several places get one answer everywhere: free seats (with the day cap) and night."""

from datetime import timedelta

import pytest
import time_machine
from django.test import Client

from scheduling import rules, selectors, services
from scheduling.models import Shift
from tests.factories import local, make_resource, make_shift


@pytest.fixture
def capped_day(station, lead, resource, requester, book, now):
    """A station that takes one observer a day: one held on DA12's day shift leaves DA14's the same day full."""
    services.update_station(actor=lead, station_id=station.pk, now=now, max_observers_per_day=1)
    other = make_resource(station, "DA14", seats=2)
    first = make_shift(resource, local(2026, 10, 12, 7), local(2026, 10, 12, 19), now=now)
    second = make_shift(other, local(2026, 10, 12, 8), local(2026, 10, 12, 20), now=now)
    next_day = make_shift(other, local(2026, 10, 13, 8), local(2026, 10, 13, 20), now=now)
    book(requester, first)
    return {"first": first, "second": second, "next_day": next_day}


def test_the_api_counts_the_station_day_in_seats_free(api, station, requester, capped_day, now):
    with time_machine.travel(now, tick=False):
        listed = api(requester).get("/api/v1/shifts", {"station": station.pk}).json()["results"]
        available = api(requester).get("/api/v1/shifts", {"station": station.pk, "available": "true"}).json()
    free = {s["id"]: s["seats_free"] for s in listed}
    assert free[capped_day["second"].pk] == 0 and free[capped_day["next_day"].pk] == 1
    assert capped_day["second"].pk not in {s["id"] for s in available["results"]}
    assert capped_day["next_day"].pk in {s["id"] for s in available["results"]}


def test_the_listings_sql_and_the_rule_agree_on_the_same_rows(station, capped_day, now):
    listed = list(selectors.shifts_for_listing().filter(station=station))
    for shift in listed:
        fresh = Shift.objects.select_related("station").get(pk=shift.pk)
        assert rules.seats_free(shift) == rules.free_capacity(fresh), shift
    open_ids = set(selectors.shifts_open_now(Shift.objects.filter(station=station), now).values_list("pk", flat=True))
    expected = {s.pk for s in listed if rules.seats_free(s) > 0 and s.starts_at - now >= timedelta(hours=72)}
    assert open_ids == expected


def test_find_shifts_offers_no_request_on_a_shift_whose_day_is_full(requester, capped_day, now):
    page = Client()
    page.force_login(requester)
    with time_machine.travel(now, tick=False):
        html = page.get("/shifts/", {"date_from": "2026-10-12", "date_to": "2026-10-12"}).content.decode()
    assert f"/shifts/{capped_day['second'].pk}/request/" in html  # offered as the waiting list
    second = html.split(f"/shifts/{capped_day['second'].pk}/request/")[0].rsplit("<li", 1)[-1]
    assert "Request a place" not in second and "seats free" not in second.replace("0 of", "")


def test_a_shift_crossing_midnight_is_a_night_in_its_label_and_its_filter(requester, resource, now):
    late = make_shift(resource, local(2026, 10, 14, 15), local(2026, 10, 15, 1), now=now)
    assert "night shift" in late.label and late.is_night
    page = Client()
    page.force_login(requester)
    with time_machine.travel(now, tick=False):
        nights = page.get("/shifts/", {"time_of_day": "night", "date_from": "2026-10-14"}).content.decode()
        days = page.get("/shifts/", {"time_of_day": "day", "date_from": "2026-10-14"}).content.decode()
    assert f"/shifts/{late.pk}/request/" in nights and f"/shifts/{late.pk}/request/" not in days


def test_a_date_filter_takes_the_nights_that_start_on_that_date_only(requester, resource, now):
    before = make_shift(resource, local(2026, 10, 17, 19), local(2026, 10, 18, 7), now=now)
    on_the_day = make_shift(resource, local(2026, 10, 18, 19), local(2026, 10, 19, 7), now=now)
    page = Client()
    page.force_login(requester)
    with time_machine.travel(now, tick=False):
        html = page.get("/shifts/", {"date_from": "2026-10-18", "date_to": "2026-10-18"}).content.decode()
    assert f"/shifts/{on_the_day.pk}/request/" in html and f"/shifts/{before.pk}/request/" not in html


def test_a_retimed_shift_keeps_its_night_rule(resource, now):
    shift = make_shift(resource, local(2026, 10, 16, 7), local(2026, 10, 16, 15), now=now)
    assert not shift.is_night
    services.apply_shift_change(
        shift_id=shift.pk,
        actor=None,
        change=services.ShiftChange(starts_at=local(2026, 10, 16, 18), ends_at=local(2026, 10, 17, 6)),
        now=now,
    )
    assert Shift.objects.get(pk=shift.pk).is_night
