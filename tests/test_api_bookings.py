"""The API as integrators meet it: the seed's story, errors, idempotency and query counts."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from rest_framework.test import APIClient

from scheduling import services
from scheduling.models import AuditEvent, Booking, IdempotencyRecord, Notification, Place
from tests.factories import local, make_person, make_resource, make_shift, make_station

NOW = datetime(2026, 10, 1, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def signed_in(username):
    client = APIClient()
    token = client.post(
        "/api/v1/auth/token",
        {"username": username, "password": "pw-" + username + "-battery-horse-staple"},
        format="json",
    ).json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def post(client, path, body=None, **headers):
    return client.post(path, json.dumps(body or {}), content_type="application/json", **headers)


def test_the_seed_story_through_the_api_alone(requester, mentor, paramedic, technician, lead, night):
    rachel, pat, lee, mo = (signed_in(u) for u in ("rachel", "pat", "lee", "mo"))
    found = rachel.get(
        "/api/v1/shifts", {"available": "true", "from": "2026-10-10T00:00:00+01:00", "to": "2026-10-11T00:00:00+01:00"}
    ).json()
    assert [s["id"] for s in found["results"]] == [night.pk]
    assert found["results"][0]["starts_at"] == "2026-10-10T19:00:00+01:00"
    assert found["results"][0]["seats_free"] == 2
    created = post(
        rachel,
        "/api/v1/bookings",
        {"shift": night.pk, "observers": [requester.pk, mentor.pk], "purpose": "See how a night shift runs"},
    )
    assert created.status_code == 201
    booking = created.json()
    assert (booking["status"], booking["consent"], "consents" in booking) == ("pending", "pending", False)
    queue = lee.get("/api/v1/bookings", {"role": "leading", "status": "pending"}).json()
    consents = {c["person"]: (c["state"], c["source"]) for c in queue["results"][0]["consents"]}
    assert consents[technician.pk] == ("given", "preference")
    assert post(pat, f"/api/v1/bookings/{booking['id']}/consent", {"decision": "give"}).status_code == 200
    approved = post(lee, f"/api/v1/bookings/{booking['id']}/approve")
    assert approved.json()["status"] == "approved"
    for client in (rachel, mo):
        seen = client.get(f"/api/v1/bookings/{booking['id']}").json()
        assert (seen["status"], seen["observers"], seen["revision"]) == ("approved", [requester.pk, mentor.pk], 2)
    shift = rachel.get(f"/api/v1/shifts/{night.pk}").json()
    assert shift["seats_free"] == 0
    assert shift["crew"] == [{"person": None, "role": "paramedic"}, {"person": None, "role": "technician"}]


def test_who_declined_is_hidden_from_requester_but_shown_to_the_lead(api, requester, paramedic, lead, night):
    booking = services.request_booking(actor=requester, shift_id=night.pk, purpose="x", now=NOW)
    post(api(paramedic), f"/api/v1/bookings/{booking.pk}/consent", {"decision": "decline", "note": "Private"})
    mine = api(requester).get(f"/api/v1/bookings/{booking.pk}").json()
    assert (mine["status"], mine["cancel_reason"], mine["consent"]) == ("declined", "crew_declined", "declined")
    assert "consents" not in mine
    history = api(requester).get(f"/api/v1/bookings/{booking.pk}/history").json()
    assert history[-1]["actor"] is None and history[-1]["note"] is None
    lead_view = api(lead).get(f"/api/v1/bookings/{booking.pk}/history").json()
    assert (lead_view[-1]["actor"], lead_view[-1]["note"]) == (paramedic.pk, "Private")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"purpose": "x"}, "shift"),
        ({"shift": "abc", "purpose": "x"}, "shift"),
        ({"shift": 1, "purpose": ""}, "purpose"),
        ({"shift": 1, "purpose": "x" * 2001}, "purpose"),
        ({"shift": 1, "purpose": "x", "observers": []}, "observers"),
        ({"shift": 1, "purpose": "x", "observers": ["a"]}, "observers"),
        ({"shift": 1, "purpose": "x", "extra": 1}, "extra"),
        ({"shift": 99999, "purpose": "x"}, "shift"),
        ({"shift": 1, "purpose": "x", "observers": [99999]}, "observers"),
        ({"shift": 1, "purpose": "x", "allow_waitlist": "maybe"}, "allow_waitlist"),
    ],
)
def test_malformed_booking_requests_are_400_with_fields_and_change_nothing(api, requester, night, body, field):
    body = {k: (night.pk if v == 1 and k == "shift" else v) for k, v in body.items()}
    response = post(api(requester), "/api/v1/bookings", body)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert field in response.json()["fields"]
    assert not Booking.objects.exists()


def test_the_shift_is_checked_with_the_rest_of_the_request(api, requester, mentor, outsider, night):
    """More observers than seats is a field error, and a request wrong in several ways says so all at once."""
    too_many = {"shift": night.pk, "purpose": "x", "observers": [requester.pk, mentor.pk, outsider.pk]}
    response = post(api(requester), "/api/v1/bookings", too_many)
    assert response.status_code == 400
    assert "2 observer seats" in response.json()["fields"]["observers"][0]
    response = post(api(requester), "/api/v1/bookings", {"shift": 99999, "purpose": "x", "observers": [99998]})
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"shift", "observers"}
    assert not Booking.objects.exists()


@pytest.mark.parametrize("raw", ["{bad", "[]", "null", '"text"', "1"])
def test_bodies_that_are_not_objects_are_400(api, requester, raw):
    response = api(requester).post("/api/v1/bookings", raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_rule_failures_are_409_with_the_rules_code(api, requester, night):
    novice = make_person("novice", cleared=False)
    response = post(api(requester), "/api/v1/bookings", {"shift": night.pk, "observers": [novice.pk], "purpose": "x"})
    assert (response.status_code, response.json()["code"]) == (409, "clearance_missing")
    assert not Booking.objects.exists() and not AuditEvent.objects.filter(booking__isnull=False).exists()
    assert not Notification.objects.exists()


def test_naive_datetimes_are_refused(api, lead, resource):
    response = post(
        api(lead),
        "/api/v1/shifts",
        {"resource": resource.pk, "starts_at": "2026-10-20T07:00:00", "ends_at": "2026-10-20T19:00:00+01:00"},
    )
    assert (response.status_code, list(response.json()["fields"])) == (400, ["starts_at"])
    assert api(lead).get("/api/v1/shifts", {"from": "2026-10-20T07:00:00"}).status_code == 400


def test_lead_approving_own_booking_is_a_conflict_of_interest(api, requester, lead, night):
    for kind in ("dbs", "confidentiality", "briefing"):
        services.add_clearance(
            actor=make_person(staff=True, cleared=False), person=lead, kind=kind, valid_from=NOW.date(), now=NOW
        )
    booking = services.request_booking(actor=requester, shift_id=night.pk, observer_ids=[lead.pk], purpose="x", now=NOW)
    response = post(api(lead), f"/api/v1/bookings/{booking.pk}/approve")
    assert (response.status_code, response.json()["code"]) == (403, "conflict_of_interest")


def test_impossible_transitions_are_409(api, requester, lead, night):
    booking = services.request_booking(actor=requester, shift_id=night.pk, purpose="x", now=NOW)
    post(api(requester), f"/api/v1/bookings/{booking.pk}/cancel")
    response = post(api(lead), f"/api/v1/bookings/{booking.pk}/approve")
    assert (response.status_code, response.json()["code"]) == (409, "invalid_transition")


def test_lead_decline_needs_a_reason(api, requester, lead, night):
    booking = services.request_booking(actor=requester, shift_id=night.pk, purpose="x", now=NOW)
    response = post(api(lead), f"/api/v1/bookings/{booking.pk}/decline", {})
    assert (response.status_code, list(response.json()["fields"])) == (400, ["reason"])
    booking.refresh_from_db()
    assert booking.status == "pending"


def test_idempotent_booking_replays_refuses_a_changed_body_and_is_per_person(api, requester, mentor, night):
    body = {"shift": night.pk, "purpose": "Nights"}
    first = post(api(requester), "/api/v1/bookings", body, HTTP_IDEMPOTENCY_KEY="k1")
    again = post(api(requester), "/api/v1/bookings", body, HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert Booking.objects.count() == 1
    changed = post(api(requester), "/api/v1/bookings", {**body, "purpose": "Days"}, HTTP_IDEMPOTENCY_KEY="k1")
    assert (changed.status_code, changed.json()["code"]) == (422, "idempotency_key_reused")
    other = post(api(mentor), "/api/v1/bookings", body, HTTP_IDEMPOTENCY_KEY="k1")
    assert other.status_code == 201 and Booking.objects.count() == 2


def test_idempotency_key_in_flight_answers_409_with_retry_after(api, requester, night):
    IdempotencyRecord.objects.create(person=requester, key="k2", request_hash="x", created_at=NOW)
    body = {"shift": night.pk, "purpose": "Nights"}
    IdempotencyRecord.objects.filter(key="k2").update(
        request_hash=__import__("hashlib")
        .sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())
        .hexdigest()
    )
    response = post(api(requester), "/api/v1/bookings", body, HTTP_IDEMPOTENCY_KEY="k2")
    assert (response.status_code, response.json()["code"]) == (409, "idempotency_in_progress")
    assert response["Retry-After"]


def test_a_key_whose_first_request_died_is_free_again_after_thirty_seconds(api, requester, night):
    body = {"shift": night.pk, "purpose": "Nights"}
    digest = __import__("hashlib").sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    # What a worker killed mid-request leaves behind: a claimed key and no answer.
    IdempotencyRecord.objects.create(person=requester, key="k4", request_hash=digest, created_at=NOW)
    with time_machine.travel(NOW + timedelta(seconds=29), tick=False):
        early = post(api(requester), "/api/v1/bookings", body, HTTP_IDEMPOTENCY_KEY="k4")
    assert (early.status_code, early.json()["code"]) == (409, "idempotency_in_progress")
    with time_machine.travel(NOW + timedelta(seconds=31), tick=False):
        retried = post(api(requester), "/api/v1/bookings", body, HTTP_IDEMPOTENCY_KEY="k4")
        again = post(api(requester), "/api/v1/bookings", body, HTTP_IDEMPOTENCY_KEY="k4")
    assert retried.status_code == 201 and again.json() == retried.json()
    assert Booking.objects.count() == 1


def test_idempotency_records_expire_after_a_day(api, requester, night):
    body = {"shift": night.pk, "purpose": "Nights"}
    post(api(requester), "/api/v1/bookings", body, HTTP_IDEMPOTENCY_KEY="k3")
    services.cancel_booking(booking_id=Booking.objects.get().pk, actor=requester, now=NOW)
    with time_machine.travel(NOW + timedelta(hours=25), tick=False):
        response = post(api(requester), "/api/v1/bookings", body, HTTP_IDEMPOTENCY_KEY="k3")
    assert response.status_code == 201 and Booking.objects.count() == 2


def test_outcome_after_the_shift(api, requester, paramedic, lead, night):
    booking = services.request_booking(actor=requester, shift_id=night.pk, purpose="x", now=NOW)
    services.give_consent(booking_id=booking.pk, actor=paramedic, now=NOW)
    services.approve_booking(booking_id=booking.pk, actor=lead, now=NOW)
    with time_machine.travel(night.ends_at + timedelta(hours=1), tick=False):
        response = post(api(paramedic), f"/api/v1/bookings/{booking.pk}/outcome", {"outcome": "attended"})
        assert (response.status_code, response.json()["outcome"]) == (200, "attended")
        bad = post(api(paramedic), f"/api/v1/bookings/{booking.pk}/outcome", {"outcome": "great"})
        assert bad.status_code == 400


def test_shift_patch_retime_applies_rota_rules(api, requester, lead, night):
    booking = services.request_booking(actor=requester, shift_id=night.pk, purpose="x", now=NOW)
    response = api(lead).patch(
        f"/api/v1/shifts/{night.pk}",
        json.dumps({"starts_at": "2026-10-10T20:00:00+01:00", "ends_at": "2026-10-11T08:00:00+01:00"}),
        content_type="application/json",
    )
    assert response.status_code == 200 and response.json()["starts_at"] == "2026-10-10T20:00:00+01:00"
    booking.refresh_from_db()
    assert booking.revision == 2


def test_suspend_and_lift(api, lead, station):
    response = post(
        api(lead),
        f"/api/v1/stations/{station.pk}/suspend",
        {"until": "2026-10-20T00:00:00+01:00", "reason": "Inspection", "cancel_bookings": True},
    )
    assert response.json()["suspended_until"] == "2026-10-20T00:00:00+01:00"
    lifted = api(lead).delete(f"/api/v1/stations/{station.pk}/suspend")
    assert lifted.status_code == 200 and lifted.json()["suspended_until"] is None


def test_unknown_ids_and_bad_paths_are_404_with_the_error_body(api, requester):
    for path in ("/api/v1/bookings/999999", "/api/v1/bookings/abc", "/api/v1/shifts/-1", "/api/v1/stations/9" * 3):
        response = api(requester).get(path)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


def test_anonymous_is_401_with_error_body(api):
    response = api().get("/api/v1/bookings")
    assert (response.status_code, response.json()["code"]) == (401, "not_authenticated")


def test_wrong_password_is_refused(api, requester):
    response = post(api(), "/api/v1/auth/token", {"username": "rachel", "password": "nope"})
    assert response.status_code == 400 and response.json()["code"] == "invalid"


def test_pagination_and_page_size_cap(api, admin_user, resource):
    for day in range(5):
        make_shift(resource, local(2026, 11, 1 + day, 7), local(2026, 11, 1 + day, 19), now=NOW)
    page = api(admin_user).get("/api/v1/shifts", {"page_size": 2}).json()
    assert page["count"] == 5 and len(page["results"]) == 2 and page["next"]
    assert api(admin_user).get("/api/v1/shifts", {"page": 99}).status_code == 404


def test_shift_list_query_count_does_not_grow(api, requester, django_assert_max_num_queries):
    resource = make_resource(make_station("BIG"), "DA1", seats=2)
    crew = [make_person(cleared=False) for _ in range(2)]
    observers = [make_person(requester=True) for _ in range(4)]
    for i in range(20):  # more rows than the query budget: one query per row cannot hide
        start = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=12 * i)
        shift = make_shift(
            resource,
            start,
            start + timedelta(hours=12),
            now=NOW,
            crew=[(crew[0], "paramedic"), (crew[1], "technician")] if i >= 10 else [],
        )
        if i < 10:
            services.request_booking(actor=observers[i % 4], shift_id=shift.pk, purpose="x", now=NOW)
    with django_assert_max_num_queries(8):
        response = api(requester).get("/api/v1/shifts", {"page_size": 200, "available": "true"})
    assert len(response.json()["results"]) == 20


def test_booking_list_and_history_query_counts_do_not_grow(api, lead, station, django_assert_max_num_queries):
    resource = make_resource(station, "DA2", seats=2)
    requester = make_person(requester=True)
    bookings = []
    for i in range(14):  # more rows than the query budget: one query per row cannot hide
        start = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=12 * i)
        shift = make_shift(resource, start, start + timedelta(hours=12), now=NOW)
        bookings.append(services.request_booking(actor=requester, shift_id=shift.pk, purpose="x", now=NOW))
    with django_assert_max_num_queries(10):
        response = api(lead).get("/api/v1/bookings", {"page_size": 200})
    assert len(response.json()["results"]) == 14
    booking = bookings[0]
    services.approve_booking(booking_id=booking.pk, actor=lead, now=NOW)
    for i in range(12):
        services.cancel_booking(booking_id=bookings[i + 1].pk, actor=requester, now=NOW)
    with django_assert_max_num_queries(10):
        api(lead).get(f"/api/v1/bookings/{booking.pk}/history")


def test_places_are_released_when_declined(api, requester, mentor, lead, night):
    booking = services.request_booking(
        actor=requester, shift_id=night.pk, observer_ids=[requester.pk, mentor.pk], purpose="x", now=NOW
    )
    post(api(lead), f"/api/v1/bookings/{booking.pk}/decline", {"reason": "Training night"})
    assert Place.objects.filter(state="held").count() == 0
    assert api(requester).get(f"/api/v1/shifts/{night.pk}").json()["seats_free"] == 2


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        (
            "post",
            "/api/v1/shifts",
            {"resource": 2**70, "starts_at": "2026-10-20T07:00:00Z", "ends_at": "2026-10-20T19:00:00Z"},
        ),
        (
            "post",
            "/api/v1/shifts",
            {"resource": 1, "starts_at": "0001-01-01T00:00:00+14:00", "ends_at": "2026-10-20T19:00Z"},
        ),
        (
            "post",
            "/api/v1/shifts",
            {
                "resource": 1,
                "starts_at": "2026-10-20T07:00:00Z",
                "ends_at": "2026-10-20T19:00:00Z",
                "crew": [{"person": 2**70, "role": "paramedic"}],
            },
        ),
        ("patch", "/api/v1/stations/STATION", {"leads": [2**70]}),
        ("post", "/api/v1/resources", {"station": 2**70, "call_sign": "X"}),
        ("get", "/api/v1/shifts?from=9999-12-31T23:59:59-23:59", None),
    ],
)
def test_out_of_range_values_are_400_not_500(api, admin_user, station, resource, method, path, body):
    client = api(admin_user)
    # Ids differ between databases (PostgreSQL sequences are not reset), so they are filled in here.
    path = path.replace("STATION", str(station.pk))
    if body is not None:
        body = {k: resource.pk if v == "RESOURCE" else v for k, v in body.items()}
    response = getattr(client, method)(
        path, json.dumps(body) if body is not None else None, content_type="application/json"
    )
    assert response.status_code == 400, response.content


def test_idempotency_key_must_be_printable(api, requester, night):
    response = post(
        api(requester), "/api/v1/bookings", {"shift": night.pk, "purpose": "x"}, HTTP_IDEMPOTENCY_KEY="bad\x01key"
    )
    assert response.status_code == 400 and not Booking.objects.exists()


def test_a_new_booking_is_answered_from_what_was_written(api, requester, mentor, night, django_assert_max_num_queries):
    """The 201 body comes from the rows the service wrote, in a fixed budget of queries, and says
    what a fresh read says: both observers, the technician's standing consent, the paramedic still to ask."""
    body = {"shift": night.pk, "observers": [requester.pk, mentor.pk], "purpose": "Nights"}
    # SQLite takes no row locks but finds the shift's people in three steps; PostgreSQL locks the station,
    # then finds and locks the people in one. One query counts the request against the API rate (SPEC §12),
    # one reads the observers' online paperwork (SPEC §19).
    with django_assert_max_num_queries(22 if connection.vendor == "sqlite" else 21):
        made = post(api(requester), "/api/v1/bookings", body)
    assert made.status_code == 201, made.content
    fresh = api(requester).get(f"/api/v1/bookings/{made.json()['id']}").json()
    assert made.json() == fresh
    assert fresh["observers"] == [requester.pk, mentor.pk]
    assert fresh["status"] == "pending" and fresh["consent"] == "pending"
    assert "consents" not in fresh  # the requester is no lead: who consented stays private


def test_people_lookup_finds_colleagues_by_name_or_username(api, requester, mentor, outsider, lead, station):
    found = api(requester).get("/api/v1/people/lookup", {"q": "mo"})
    assert found.status_code == 200
    assert {"id": mentor.pk, "username": "mo", "name": "Mo Mentor"} in found.json()
    assert all(set(p) == {"id", "username", "name"} for p in found.json())
    assert [p["username"] for p in api(lead).get("/api/v1/people/lookup", {"q": "OUTSIDER"}).json()] == ["otto"]


def test_people_lookup_needs_two_characters_caps_at_ten_and_skips_the_inactive(api, requester, now):
    for i in range(12):
        make_person(f"alex{i}", name=f"Alex {i}")
    services.update_person(person=make_person("alexgone", name="Alex Gone"), now=now, is_active=False)
    assert api(requester).get("/api/v1/people/lookup", {"q": "a"}).status_code == 400
    found = api(requester).get("/api/v1/people/lookup", {"q": "alex"}).json()
    assert len(found) == 10 and "alexgone" not in {p["username"] for p in found}


def test_people_lookup_is_refused_to_people_without_the_role(api, outsider, paramedic):
    for person in (outsider, paramedic):
        response = api(person).get("/api/v1/people/lookup", {"q": "ra"})
        assert response.status_code == 403 and response.json()["code"] == "forbidden"
    assert api().get("/api/v1/people/lookup", {"q": "ra"}).status_code == 401


def test_the_station_report_for_its_leads(api, requester, mentor, night, paramedic, lead, outsider, station, now):
    booking = services.request_booking(
        actor=requester, shift_id=night.pk, observer_ids=[requester.pk, mentor.pk], purpose="x", now=NOW
    )
    services.give_consent(booking_id=booking.pk, actor=paramedic, now=NOW)
    services.approve_booking(booking_id=booking.pk, actor=lead, now=NOW)
    with time_machine.travel(NOW, tick=False):
        report = api(lead).get(f"/api/v1/stations/{station.pk}/report")
        assert report.status_code == 200, report.content
        body = report.json()
        pat = next(r for r in body["hosting"] if r["person"] == paramedic.pk)
        assert pat["next_28_days"] == 1 and pat["limit"] == 4
        assert body["ride_alongs_by_month"] == [
            {
                "month": "2026-10",
                "pending": 0,
                "approved": 1,
                "waitlisted": 0,
                "declined": 0,
                "cancelled": 0,
                "expired": 0,
                "attended": 0,
                "ended_early": 0,
                "no_show": 0,
            }
        ]
        assert api(outsider).get(f"/api/v1/stations/{station.pk}/report").status_code == 403
        listed = (
            api(lead)
            .get(
                "/api/v1/bookings",
                {"station": station.pk, "from": "2026-10-10T00:00:00Z", "to": "2026-10-11T00:00:00Z"},
            )
            .json()
        )
        assert [b["id"] for b in listed["results"]] == [booking.pk]
        assert (
            api(lead).get("/api/v1/bookings", {"station": station.pk, "from": "2026-10-12T00:00:00Z"}).json()["count"]
            == 0
        )


def test_the_station_report_takes_a_fixed_number_of_queries(
    api, lead, station, resource, django_assert_max_num_queries
):
    def add(count, first):
        for i in range(count):
            crew = make_person(cleared=False)
            make_shift(
                resource, local(2026, 10, first + i, 7), local(2026, 10, first + i, 8), crew=[(crew, "paramedic")]
            )

    add(2, 2)
    with time_machine.travel(NOW, tick=False), django_assert_max_num_queries(8):
        assert api(lead).get(f"/api/v1/stations/{station.pk}/report").status_code == 200
    add(10, 12)
    with time_machine.travel(NOW, tick=False), django_assert_max_num_queries(8):
        assert len(api(lead).get(f"/api/v1/stations/{station.pk}/report").json()["hosting"]) == 12
