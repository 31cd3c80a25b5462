"""The lead's station view in the pages (SPEC §15)."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from scheduling import services
from scheduling.models import Booking, Clearance
from tests.factories import local, make_person, make_resource, make_shift

NOW = datetime(2026, 10, 1, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def approved(requester, mentor, night, paramedic, lead):
    booking = services.request_booking(
        actor=requester,
        shift_id=night.pk,
        observer_ids=[requester.pk, mentor.pk],
        purpose='=HYPERLINK("http://evil")',
        now=NOW,
    )
    services.give_consent(booking_id=booking.pk, actor=paramedic, now=NOW)
    services.approve_booking(booking_id=booking.pk, actor=lead, now=NOW)
    return Booking.objects.get(pk=booking.pk)


def test_a_lead_finds_and_cancels_an_approved_booking(client, lead, station, approved):
    client.force_login(lead)
    page = client.get(f"/lead/stations/{station.pk}/bookings/", {"status": "approved"}).content.decode()
    assert f"/bookings/{approved.pk}/" in page and "Rachel Requester" in page
    client.post(f"/bookings/{approved.pk}/cancel/", {"reason": "Vehicle off the road"})
    assert Booking.objects.get(pk=approved.pk).status == "cancelled"


def test_the_bookings_csv_quotes_cells_a_spreadsheet_would_run(client, lead, station, approved):
    client.force_login(lead)
    response = client.get(f"/lead/stations/{station.pk}/bookings/", {"format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][0] == "booking" and rows[1][0] == str(approved.pk)
    assert rows[1][-1].startswith("'=")


def test_station_pages_are_404_for_anyone_but_its_leads_and_admins(client, outsider, requester, station, admin_user):
    for person in (outsider, requester):
        client.force_login(person)
        for tail in ("bookings", "waiting-list", "report", "clearances"):
            assert client.get(f"/lead/stations/{station.pk}/{tail}/").status_code == 404
    client.force_login(admin_user)
    assert client.get(f"/lead/stations/{station.pk}/report/").status_code == 200


def test_the_waiting_list_is_in_promotion_order(client, lead, station, now):
    shift = make_shift(make_resource(station, "DA50", seats=1), local(2026, 10, 15, 19), local(2026, 10, 16, 7))
    people = [make_person(f"w{i}", requester=True, name=f"Waiting {i}") for i in range(3)]
    for i, person in enumerate(people):
        services.request_booking(actor=person, shift_id=shift.pk, purpose="x", now=NOW + timedelta(minutes=i))
    client.force_login(lead)
    page = client.get(f"/lead/stations/{station.pk}/waiting-list/").content.decode()
    assert page.index("Waiting 1") < page.index("Waiting 2")
    assert "Waiting 0" not in page  # she holds the seat


def test_the_hosting_report_draws_bars_and_the_same_numbers(client, lead, station, approved, paramedic):
    client.force_login(lead)
    page = client.get(f"/lead/stations/{station.pk}/report/").content.decode()
    assert "<svg" in page and "Pat Paramedic: 1" in page
    assert "Next 28 days </span>1 of 4</td>" in page


def test_a_lead_records_a_clearance_and_sees_who_is_not_covered(client, lead, station, requester, night, una_booked):
    client.force_login(lead)
    page = client.get(f"/lead/stations/{station.pk}/clearances/").content.decode()
    assert "Una Uncleared" in page and "ends before the shift" in page
    response = client.post(
        f"/lead/stations/{station.pk}/clearances/",
        {"person": "una", "kind": "dbs", "valid_from": "2026-01-01", "valid_until": "2030-01-01", "reference": "DBS-9"},
    )
    assert response.status_code == 302
    assert Clearance.objects.filter(person__username="una", kind="dbs", reference="DBS-9").exists()
    own = client.post(
        f"/lead/stations/{station.pk}/clearances/", {"person": "lee", "kind": "dbs", "valid_from": "2026-01-01"}
    )
    assert own.status_code == 400 and "your own" in own.content.decode()


@pytest.fixture
def una_booked(night, station):
    una = make_person("una", requester=True, name="Una Uncleared")
    services.request_booking(actor=una, shift_id=night.pk, purpose="x", now=NOW)
    # As a bulk import of certificates would leave it: the row changed without the service's re-check.
    Clearance.objects.filter(person=una, kind="dbs").update(valid_until=datetime(2026, 10, 5).date())
    return una


def test_station_pages_take_a_fixed_number_of_queries(client, lead, station, resource):
    """Each page answers 200 with its rows, in as many queries for ten bookings as for two."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def add(count, first):
        for i in range(count):
            shift = make_shift(resource, local(2026, 10, first + i, 7), local(2026, 10, first + i, 19))
            services.request_booking(actor=make_person(requester=True), shift_id=shift.pk, purpose="x", now=NOW)

    def visit(tail):
        with time_machine.travel(NOW, tick=False), CaptureQueriesContext(connection) as seen:
            page = client.get(f"/lead/stations/{station.pk}/{tail}/")
        assert page.status_code == 200, tail
        return len(seen.captured_queries), page.content.decode()

    client.force_login(lead)
    add(2, 5)
    few = {tail: visit(tail) for tail in ("bookings", "report", "clearances", "waiting-list")}
    assert few["bookings"][1].count('class="nhsuk-table__row"') == 2
    add(8, 12)
    many = {tail: visit(tail) for tail in ("bookings", "report", "clearances", "waiting-list")}
    assert many["bookings"][1].count('class="nhsuk-table__row"') == 10
    for tail in few:
        assert few[tail][0] == many[tail][0] <= 17, (tail, few[tail][0], many[tail][0])
