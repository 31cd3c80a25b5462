"""The pages of SPEC §10 through Django's test client; the browser tests drive the same pages in Chromium."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from scheduling import services
from scheduling.models import Booking
from tests.factories import local, make_person, make_resource, make_shift

NOW = datetime(2026, 10, 1, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def signed_in(client):
    def _as(person):
        client.force_login(person)
        return client

    return _as


def test_pages_need_sign_in(client):
    response = client.get("/shifts/")
    assert response.status_code == 302 and "/sign-in/" in response["Location"]


def test_sign_in_page_and_wrong_password(client, requester):
    assert client.get("/sign-in/").status_code == 200
    response = client.post("/sign-in/", {"username": "rachel", "password": "wrong"})
    assert "Your username or password is wrong" in response.content.decode()
    response = client.post("/sign-in/", {"username": "rachel", "password": "pw-rachel-battery-horse-staple"})
    assert response.status_code == 302


def test_find_shifts_lists_open_shifts_with_seats(signed_in, requester, night):
    page = signed_in(requester).get("/shifts/", {"time_of_day": "night"}).content.decode()
    assert "DA12 night shift, Loughborough" in page and "Saturday 10 October 2026" in page and "19:00 to" in page
    assert "Crew: Paramedic, Technician" in page
    assert signed_in(requester).get("/shifts/", {"time_of_day": "day"}).content.decode().count("data-shift=") == 0


def test_find_shifts_shows_full_shifts_with_the_waiting_list_and_closed_ones_with_why(
    signed_in, requester, lead, station, resource, now
):
    from scheduling.models import Station

    full = make_shift(make_resource(station, "DA90", seats=1), local(2026, 10, 12, 19), local(2026, 10, 13, 7))
    services.request_booking(actor=make_person(requester=True), shift_id=full.pk, purpose="x", now=NOW)
    soon = make_shift(resource, local(2026, 10, 2, 19), local(2026, 10, 3, 7))
    page = signed_in(requester).get("/shifts/").content.decode()
    card = page[page.index(f'data-shift="{full.pk}"') :]
    assert "Full" in card[:800] and "Join the waiting list" in card[:1200]
    # By default only what can be requested now; the closed ones, each with why, on asking (SPEC §10).
    assert f'data-shift="{soon.pk}"' not in page
    page = signed_in(requester).get("/shifts/", {"show_closed": "on"}).content.decode()
    card = page[page.index(f'data-shift="{soon.pk}"') :]
    assert "needs at least 72 hours" in card[:800]
    Station.objects.filter(pk=station.pk).update(suspended_until=local(2026, 11, 1))
    assert "suspended until" not in signed_in(requester).get("/shifts/").content.decode()
    assert "suspended until" in signed_in(requester).get("/shifts/", {"show_closed": "on"}).content.decode()
    crew_page = signed_in(lead).get("/shifts/").content.decode()
    assert "Join the waiting list" not in crew_page and "Request a place" not in crew_page


def test_find_shifts_is_paginated_and_never_silently_cut_short(signed_in, requester, resource):
    for day in range(45):
        start = local(2026, 10, 5, 7) + timedelta(days=day)
        make_shift(resource, start, start + timedelta(hours=12))
    client = signed_in(requester)
    first = client.get("/shifts/").content.decode()
    assert "45 shifts, page 1 of 2" in first and first.count("data-shift=") == 40
    assert client.get("/shifts/", {"page": 2}).content.decode().count("data-shift=") == 5


def test_an_observer_is_named_by_name_as_the_look_up_offers(signed_in, requester, mentor, night):
    signed_in(requester).post(
        f"/shifts/{night.pk}/request/",
        {"include_me": "on", "others": "Mo Mentor (mo)", "purpose": "See a night", "allow_waitlist": "on"},
    )
    assert sorted(Booking.objects.get().places.values_list("person_id", flat=True)) == sorted([requester.pk, mentor.pk])


def test_request_for_self_and_mentor(signed_in, requester, mentor, night):
    response = signed_in(requester).post(
        f"/shifts/{night.pk}/request/",
        {"include_me": "on", "others": "mo", "purpose": "See a night", "allow_waitlist": "on"},
    )
    booking = Booking.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/bookings/{booking.pk}/"
    assert sorted(booking.places.values_list("person_id", flat=True)) == sorted([requester.pk, mentor.pk])


def test_rule_failure_is_shown_next_to_the_observers_field(signed_in, requester, night):
    make_person("una", requester=True, cleared=False, name="Una Uncleared")
    response = signed_in(requester).post(
        f"/shifts/{night.pk}/request/", {"include_me": "on", "others": "una", "purpose": "See a night"}
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Una Uncleared has no DBS check on record." in page
    assert 'id="id_others-error"' in page and "There is a problem" in page
    assert not Booking.objects.exists()


def test_unknown_observer_is_a_form_error(signed_in, requester, night):
    page = signed_in(requester).post(f"/shifts/{night.pk}/request/", {"others": "nobody", "purpose": "x"})
    assert "No one matches “nobody”" in page.content.decode()


def test_lead_queue_approve_and_decline(signed_in, requester, mentor, lead, paramedic, night, resource):
    booking = services.request_booking(actor=requester, shift_id=night.pk, purpose="x", now=NOW)
    client = signed_in(lead)
    page = client.get("/lead/queue/").content.decode()
    assert "Pat Paramedic: Pending" in page and "Terry Technician: Given (standing consent)" in page
    client.post(f"/bookings/{booking.pk}/approve/", {"next": "/lead/queue/"})
    booking.refresh_from_db()
    assert booking.lead_approved
    other = services.request_booking(actor=mentor, shift_id=night.pk, purpose="x", now=NOW)
    client.post(f"/bookings/{other.pk}/decline/", {"reason": ""})
    other.refresh_from_db()
    assert other.status == "pending"
    client.post(f"/bookings/{other.pk}/decline/", {"reason": "Training night"})
    other.refresh_from_db()
    assert other.status == "declined"


def test_queue_is_not_for_non_leads(signed_in, requester):
    assert signed_in(requester).get("/lead/queue/").status_code == 404


def test_crew_inbox_and_private_decline(signed_in, requester, paramedic, night):
    booking = services.request_booking(actor=requester, shift_id=night.pk, purpose="x", now=NOW)
    client = signed_in(paramedic)
    assert f'data-booking="{booking.pk}"' in client.get("/crew/inbox/").content.decode()
    client.post(f"/bookings/{booking.pk}/consent/", {"decision": "decline", "note": "Not this one"})
    booking.refresh_from_db()
    assert booking.status == "declined"
    page = signed_in(requester).get(f"/bookings/{booking.pk}/").content.decode()
    assert "A crew member declined" in page
    assert "Pat" not in page and "Not this one" not in page


def test_preference_change(signed_in, paramedic, night):
    signed_in(paramedic).post("/crew/inbox/", {"consent_preference": "always"})
    paramedic.profile.refresh_from_db()
    assert paramedic.profile.consent_preference == "always"


def test_booking_page_is_404_for_outsiders(signed_in, requester, outsider, night):
    booking = services.request_booking(actor=requester, shift_id=night.pk, purpose="x", now=NOW)
    assert signed_in(outsider).get(f"/bookings/{booking.pk}/").status_code == 404


def test_calendar_link_page_shows_link_once_with_no_referrer(signed_in, requester):
    client = signed_in(requester)
    response = client.post("/calendar/", {"action": "create"}, follow=True)
    page = response.content.decode()
    assert response["Referrer-Policy"] == "no-referrer"
    assert "webcal://" in page and "works like a password" in page and "calendar.google.com" in page
    assert "webcal://" not in client.get("/calendar/").content.decode()
    assert client.get("/calendar/new/").status_code == 302  # shown once only


def test_home_shows_what_each_role_can_do(signed_in, lead, requester, station):
    assert "Approval queue" in signed_in(lead).get("/").content.decode()
    assert "Find a shift to observe" in signed_in(requester).get("/").content.decode()


def test_queue_and_my_bookings_pages_do_not_grow_queries_with_bookings(
    signed_in, lead, station, django_assert_max_num_queries
):
    from datetime import timedelta

    from tests.factories import make_resource, make_shift

    resource = make_resource(station, "DA77", seats=2)
    requester = make_person("many", requester=True)
    for i in range(30):
        start = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=13 * i)
        shift = make_shift(resource, start, start + timedelta(hours=12), now=NOW)
        services.request_booking(
            actor=make_person(requester=True),
            shift_id=shift.pk,
            observer_ids=[requester.pk],
            purpose="x",
            now=NOW,
        )
    client = signed_in(lead)
    with django_assert_max_num_queries(15):
        page = client.get("/lead/queue/").content.decode()
    assert page.count("data-booking=") == 30
    client = signed_in(requester)
    with django_assert_max_num_queries(15):
        page = client.get("/bookings/").content.decode()
    assert page.count("data-booking=") == 30


def test_after_the_shift_the_booking_page_holds_reflections_actions_and_feedback(
    client, requester, mentor, night, paramedic, lead, now
):
    import time_machine

    from scheduling.models import Booking

    booking = services.request_booking(
        actor=requester, shift_id=night.pk, observer_ids=[requester.pk, mentor.pk], purpose="x", now=NOW
    )
    services.give_consent(booking_id=booking.pk, actor=paramedic, now=NOW)
    services.approve_booking(booking_id=booking.pk, actor=lead, now=NOW)
    with time_machine.travel(night.ends_at + timedelta(hours=3), tick=False):
        client.force_login(requester)
        client.post(f"/bookings/{booking.pk}/reflection/", {"text": "Triage on the road", "shared": "on"})
        client.post(
            f"/bookings/{booking.pk}/actions/", {"text": "Visit control", "owner": mentor.pk, "due_on": "2026-11-02"}
        )
        client.force_login(paramedic)
        client.post(f"/bookings/{booking.pk}/feedback/", {"text": "Great questions"})
        client.force_login(mentor)
        page = client.get(f"/bookings/{booking.pk}/").content.decode()
        assert "Triage on the road" in page and "Visit control" in page and "Great questions" in page
        assert "A crew member" in page and "Pat Paramedic" not in page
        action = Booking.objects.get(pk=booking.pk).actions.get()
        client.post(f"/bookings/{booking.pk}/actions/{action.pk}/", {"done": "1"})
        log = client.get("/learning/").content.decode()
        assert "Visit control" in log and "done" in log and "Triage on the road" in log
        client.force_login(lead)
        lead_page = client.get(f"/bookings/{booking.pk}/").content.decode()
        assert "Triage on the road" not in lead_page and "Pat Paramedic" in lead_page


def test_error_pages_are_styled(client, requester):
    from django.test import Client

    missing = client.get("/no-such-page/")
    assert missing.status_code == 404 and "nhsuk-header" in missing.content.decode()
    assert "Page not found" in missing.content.decode()
    broken = Client(raise_request_exception=False)
    from unittest import mock

    with mock.patch("scheduling.web.views.render", side_effect=RuntimeError("boom")):
        broken.force_login(requester)
        answer = broken.get("/")
    assert answer.status_code == 500 and "problem with the service" in answer.content.decode()
    assert "nhsuk-header" in answer.content.decode()


@pytest.mark.parametrize(
    ("path", "heading"),
    [
        ("/privacy/", "Privacy notice"),
        ("/accessibility/", "Accessibility statement"),
        ("/cookies/", "Cookies"),
    ],
)
def test_the_footer_pages_name_the_trust_and_its_contacts_from_settings(client, settings, path, heading, db):
    settings.RIDEALONG_ORGANISATION = "Midlands Ambulance Trust"
    settings.RIDEALONG_CONTACT_EMAIL = "help@mat.example"
    settings.RIDEALONG_DPO_EMAIL = "dpo@mat.example"
    page = client.get(path).content.decode()
    assert f"<title>{heading} – Ridealong</title>" in page
    assert "Midlands Ambulance Trust" in page and "help@mat.example" in page
    assert f'href="{path}"' in page  # in every page's footer
    if path == "/privacy/":
        assert "dpo@mat.example" in page


def test_an_empty_request_says_what_to_do_in_the_content_guides_words(signed_in, requester, night):
    page = signed_in(requester).post(f"/shifts/{night.pk}/request/", {"include_me": "on", "purpose": ""})
    text = page.content.decode()
    assert "Enter why you want to observe the crew" in text and "This field is required" not in text
    assert "<title>Error: " in text


def test_the_consent_inbox_is_only_for_crew(signed_in, requester, paramedic, night):
    assert signed_in(requester).get("/crew/inbox/").status_code == 404
    assert signed_in(requester).post("/crew/inbox/", {"consent_preference": "never"}).status_code == 404
    requester.profile.refresh_from_db()
    assert requester.profile.consent_preference == "ask"
    assert signed_in(paramedic).get("/crew/inbox/").status_code == 200


def test_dates_are_entered_in_day_month_and_year_boxes_with_errors_that_say_what_to_do(signed_in, requester, night):
    client = signed_in(requester)
    page = client.get("/shifts/").content.decode()
    assert 'class="nhsuk-date-input"' in page and 'name="date_from_day"' in page and 'type="date"' not in page
    # The three boxes select the night of Saturday 10 October, and keep what was typed.
    found = client.get("/shifts/", {"date_from_day": "10", "date_from_month": "10", "date_from_year": "2026"})
    text = found.content.decode()
    assert "DA12 night shift, Loughborough" in text and 'value="2026"' in text
    # A date the calendar does not have, and one with a box left empty.
    text = client.get(
        "/shifts/", {"date_from_day": "31", "date_from_month": "2", "date_from_year": "2027"}
    ).content.decode()
    assert "Date must be a real date" in text and '<a href="#id_date_from_day">' in text
    text = client.get("/shifts/", {"date_from_day": "10", "date_from_year": "2026"}).content.decode()
    assert "Date must include a day, month and year" in text
    # A link that gives the date whole, as scripts and bookmarks do, still works.
    assert "DA12 night shift" in client.get("/shifts/", {"date_from": "2026-10-10"}).content.decode()


def test_the_success_banner_says_what_is_true_for_the_bookings_state(signed_in, requester, lead, paramedic, night):
    booking = services.request_booking(actor=requester, shift_id=night.pk, purpose="x", now=NOW)
    approved = signed_in(lead).post(f"/bookings/{booking.pk}/approve/", follow=True).content.decode()
    assert "nhsuk-notification-banner--success" in approved
    assert "Approved. The ride-along is confirmed once it has every crew member&#x27;s consent." in approved
    given = signed_in(paramedic).post(f"/bookings/{booking.pk}/consent/", {"decision": "give"}, follow=True)
    text = given.content.decode()
    assert "Consent given. The ride-along is confirmed." in text  # the last consent: it is approved now
    booking.refresh_from_db()
    assert booking.status == "approved"
    # A refused action says so in a banner of its own colour.
    again = signed_in(lead).post(f"/bookings/{booking.pk}/approve/", follow=True).content.decode()
    assert "ra-message--error" in again and "There is a problem" in again
