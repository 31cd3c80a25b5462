"""Bad input and faults get a clear 4xx or 503 with the error body, and nothing is stored (SPEC §6)."""

import json

import pytest
from django.db import OperationalError
from django.test import Client
from rest_framework.test import APIClient

from scheduling.models import AuditEvent, Booking, Consent, Resource, Station

DEEP = "[" * 1000 + "]" * 1000


def raw(client, path, body: str | bytes, content_type="application/json", **extra):
    return client.generic("POST", path, body, content_type=content_type, **extra)


def assert_error(response, status, code=None):
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) >= {"code", "detail"} and body["detail"]
    if code:
        assert body["code"] == code


@pytest.fixture
def as_requester(requester):
    client = APIClient()
    client.force_authenticate(requester)
    return client


@pytest.fixture
def as_admin(admin_user):
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


def test_json_nested_a_thousand_deep_is_400_even_signed_out(as_requester, db):
    assert_error(raw(APIClient(), "/api/v1/auth/token", DEEP), 400, "invalid")
    assert_error(raw(as_requester, "/api/v1/bookings", '{"purpose": ' + DEEP + "}"), 400, "invalid")


def test_a_body_past_the_limit_is_413_too_large(as_requester, night):
    body = json.dumps({"shift": night.pk, "purpose": "x" * 400_000})
    assert_error(raw(as_requester, "/api/v1/bookings", body), 413, "too_large")
    assert_error(raw(APIClient(), "/api/v1/auth/token", body), 413, "too_large")
    assert not Booking.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"purpose": "Nights\u0000"}, None),
        ({"purpose": ""}, "purpose"),
        ({"purpose": "   "}, "purpose"),
        ({"purpose": "x" * 2001}, "purpose"),
        ({"purpose": 42}, "purpose"),
        ({"purpose": ["a"]}, "purpose"),
        ({"purpose": "ok", "shift": "one"}, "shift"),
        ({"purpose": "ok", "shift": 10**30}, "shift"),
        ({"purpose": "ok", "shift": -1}, "shift"),
        ({"purpose": "ok", "observers": "2"}, "observers"),
        ({"purpose": "ok", "observers": [10**30]}, "observers"),
        ({"purpose": "ok", "allow_waitlist": "perhaps"}, "allow_waitlist"),
        ({"purpose": "ok", "surprise": 1}, "surprise"),
    ],
)
def test_bad_booking_requests_are_400_and_store_nothing(as_requester, night, body, field):
    body = {"shift": night.pk, **body}
    response = as_requester.post("/api/v1/bookings", body, format="json")
    assert_error(response, 400, "invalid")
    if field:
        assert field in response.json()["fields"]
    assert not Booking.objects.exists()


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("", "application/json", 400),
        ("{", "application/json", 400),
        ("[]", "application/json", 400),
        ("null", "application/json", 400),
        ('"text"', "application/json", 400),
        ("shift=1&purpose=x", "application/x-www-form-urlencoded", 415),
        ("<booking/>", "application/xml", 415),
        (b"\xff\xfe\x00", "application/json", 400),
    ],
)
def test_malformed_bodies_and_wrong_content_types(as_requester, night, body, content_type, status):
    assert_error(raw(as_requester, "/api/v1/bookings", body, content_type), status)
    assert not Booking.objects.exists()


@pytest.mark.parametrize(
    "name",
    ["Lough\nborough", "Tab\there", "Bell\x07", "Null\x00", "Line\u2028sep", "Del\x7f"],
)
def test_control_characters_are_refused_in_station_names_and_call_signs(as_admin, station, name):
    resources = Resource.objects.filter(station=station).count()
    assert_error(as_admin.post("/api/v1/stations", {"code": "NEW", "name": name}, format="json"), 400, "invalid")
    assert_error(
        as_admin.post("/api/v1/resources", {"station": station.pk, "call_sign": name}, format="json"), 400, "invalid"
    )
    assert_error(as_admin.patch(f"/api/v1/stations/{station.pk}", {"name": name}, format="json"), 400, "invalid")
    assert not Station.objects.filter(code="NEW").exists()
    # Counted, not looked up by name: PostgreSQL cannot even compare a text with a NUL byte in it.
    assert Resource.objects.filter(station=station).count() == resources
    assert Station.objects.get(pk=station.pk).name == "Loughborough"


def test_unicode_names_are_welcome(as_admin):
    response = as_admin.post("/api/v1/stations", {"code": "YGB", "name": "Ysbyty Gwynedd – Bangor ☎"}, format="json")
    assert response.status_code == 201
    assert Station.objects.get(code="YGB").name == "Ysbyty Gwynedd – Bangor ☎"


@pytest.mark.parametrize("path", ["/api/v1/bookings/99999999999999999999999", "/api/v1/shifts/-1", "/api/v1/people/x"])
def test_out_of_range_ids_are_not_found(as_admin, path):
    assert_error(as_admin.get(path), 404, "not_found")


def test_a_lost_database_answers_503_unavailable_not_500(as_requester, monkeypatch, requester):
    from scheduling import selectors

    def down(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(selectors, "shifts_for_listing", down)
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(requester)
    response = client.get("/api/v1/shifts")
    assert_error(response, 503, "unavailable")
    assert int(response["Retry-After"]) > 0
    page = Client(raise_request_exception=False)
    page.force_login(requester)
    assert page.get("/shifts/").status_code == 503


class TestWebForms:
    @pytest.fixture
    def booking(self, requester, night, book):
        return book(requester, night)

    def test_a_nul_byte_in_a_decline_reason_is_refused_and_stores_nothing(self, client, lead, booking):
        client.force_login(lead)
        response = client.post(f"/bookings/{booking.pk}/decline/", {"reason": "No\x00thanks"}, follow=True)
        assert response.status_code == 200
        assert "Null characters are not allowed" in response.content.decode()
        assert Booking.objects.get(pk=booking.pk).status == "pending"

    def test_a_huge_consent_note_is_refused(self, client, paramedic, booking):
        client.force_login(paramedic)
        response = client.post(
            f"/bookings/{booking.pk}/consent/", {"decision": "decline", "note": "x" * 200_000}, follow=True
        )
        assert response.status_code == 200
        assert "at most 2000 characters" in response.content.decode()
        assert Consent.objects.get(booking=booking, person=paramedic).state == "pending"
        assert not AuditEvent.objects.filter(booking=booking, action="consent_declined").exists()

    def test_a_made_up_decision_is_refused(self, client, paramedic, booking):
        client.force_login(paramedic)
        response = client.post(f"/bookings/{booking.pk}/consent/", {"decision": "maybe"}, follow=True)
        assert "Select a valid choice" in response.content.decode()

    def test_a_cancel_reason_with_a_nul_byte_is_refused(self, client, requester, booking):
        client.force_login(requester)
        client.post(f"/bookings/{booking.pk}/cancel/", {"reason": "\x00"}, follow=True)
        assert Booking.objects.get(pk=booking.pk).status == "pending"

    @pytest.mark.parametrize("query", ["date_to=9999-12-31", "date_from=0001-01-01", "date_to=2026-02-30", "station=x"])
    def test_find_shifts_survives_far_off_and_impossible_dates(self, client, requester, query):
        client.force_login(requester)
        response = client.get(f"/shifts/?{query}")
        assert response.status_code == 200
