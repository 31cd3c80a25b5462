"""Export, erasure and retention (SPEC §13)."""

import json
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from scheduling import services
from scheduling.delivery import process_due
from scheduling.errors import InvalidTransition
from scheduling.models import AuditEvent, Booking, Consent, Feedback, Reflection
from scheduling.services.privacy import ERASED_NAME, erase_person
from tests.factories import local, make_resource, make_shift

User = get_user_model()


@pytest.fixture
def history(requester, mentor, night, paramedic, technician, lead, book, now):
    """Rachel and Mo observed the night; Pat consented with a private note and left feedback."""
    booking = book(requester, night, [requester, mentor])
    services.give_consent(booking_id=booking.pk, actor=paramedic, note="Happy to host", now=now)
    services.approve_booking(booking_id=booking.pk, actor=lead, now=now)
    booking = Booking.objects.get(pk=booking.pk)
    ended = night.ends_at + timedelta(hours=1)
    services.after.save_reflection(person=requester, booking=booking, text="Mine alone", shared=False, now=ended)
    services.after.save_reflection(person=mentor, booking=booking, text="Mo's private one", shared=False, now=ended)
    services.after.add_action(person=requester, booking=booking, text="Call control", now=ended)
    services.after.leave_feedback(person=paramedic, booking=booking, text="Well done", now=ended)
    return booking


def export_of(person):
    client = APIClient()
    client.force_authenticate(person)
    response = client.get("/api/v1/me/export")
    assert response.status_code == 200
    return response.json()


def test_the_export_holds_the_persons_data_in_every_role_and_no_one_elses_private_data(
    history, requester, mentor, paramedic, technician, admin_user, now
):
    services.add_clearance(actor=admin_user, person=requester, kind="first_aid", valid_from=date(2026, 1, 1), now=now)
    doc = export_of(requester)
    assert doc["profile"]["username"] == "rachel"
    assert {c["kind"] for c in doc["clearances"]} >= {"dbs", "confidentiality", "briefing", "first_aid"}
    assert [b["booking"]["id"] for b in doc["bookings"]] == [history.pk]
    assert doc["bookings"][0]["roles"] == ["requested", "observing"]
    assert [r["text"] for r in doc["reflections"]] == ["Mine alone"]
    assert [a["text"] for a in doc["actions"]] == ["Call control"]
    assert doc["feedback_received"][0]["author"] is None and doc["feedback_received"][0]["text"] == "Well done"
    assert sorted(e["action"] for e in doc["events_about_me"]) == ["clearance_recorded", "person_added"]
    assert doc["notifications"]
    text = json.dumps(doc)
    for secret in ("Mo's private one", "Happy to host", "Pat Paramedic", '"pat"', "Terry"):
        assert secret not in text, secret
    assert all(e["actor"] not in (paramedic.pk, technician.pk) for b in doc["bookings"] for e in b["history"])


def test_the_crew_member_exports_their_own_consent_note_and_feedback(history, paramedic):
    doc = export_of(paramedic)
    assert doc["bookings"][0]["roles"] == ["hosting"]
    assert [(c["state"], c["note"]) for c in doc["consents"]] == [("given", "Happy to host")]
    assert [f["text"] for f in doc["feedback_given"]] == ["Well done"]
    assert "Mine alone" not in json.dumps(doc)


def test_my_data_page_downloads_the_same_document(client, history, requester):
    client.force_login(requester)
    assert "Download my data" in client.get("/my-data/").content.decode()
    download = client.get("/my-data/?download=1")
    assert download["Content-Disposition"].startswith("attachment")
    assert json.loads(download.content)["profile"]["username"] == "rachel"


def test_erasure_anonymises_and_keeps_the_record_whole(history, requester, mentor, lead, admin_user, now, client):
    later = history.shift.ends_at + timedelta(days=1)
    link = services.issue_calendar_token(person=mentor, now=now)
    token_client = APIClient()
    secret = services.accounts.issue_api_token(person=mentor, name="laptop", now=now)[1]
    counts = (Booking.objects.count(), AuditEvent.objects.filter(booking=history).count())

    erase_person(person_id=mentor.pk, actor=admin_user, now=later)

    erased = User.objects.get(pk=mentor.pk)
    assert (erased.username, erased.profile.name, erased.email, erased.is_active) == (
        f"erased-{mentor.pk}",
        ERASED_NAME,
        "",
        False,
    )
    assert not erased.clearances.exists() and erased.profile.staff_number is None
    assert not client.login(username="mo", password="pw-mo-battery-horse-staple")
    assert client.get(f"/calendar/{link}.ics").status_code == 404
    token_client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert token_client.get("/api/v1/me").status_code == 401
    assert (Booking.objects.count(), AuditEvent.objects.filter(booking=history).count()) == counts
    assert mentor.pk in Booking.objects.get(pk=history.pk).places.values_list("person_id", flat=True)
    client.force_login(requester)
    with time_machine.travel(later, tick=False):
        page = client.get(f"/bookings/{history.pk}/").content.decode()
    assert ERASED_NAME in page and "Mo Mentor" not in page


def test_erasure_is_refused_while_the_person_holds_a_live_booking(requester, night, book, admin_user, now):
    book(requester, night)
    with pytest.raises(InvalidTransition) as caught:
        erase_person(person_id=requester.pk, actor=admin_user, now=now)
    assert "live booking" in str(caught.value)
    assert User.objects.get(pk=requester.pk).username == "rachel"
    with time_machine.travel(now, tick=False), pytest.raises(CommandError, match="live booking"):
        call_command("erase_person", str(requester.pk))


def test_the_erase_command_and_admin_action(outsider, lead, admin_client, db):
    call_command("erase_person", str(outsider.pk))
    assert User.objects.get(pk=outsider.pk).profile.name == ERASED_NAME
    admin_client.post("/admin/auth/user/", {"action": "erase_people", "_selected_action": [lead.pk]})
    erased = User.objects.get(pk=lead.pk)
    assert (erased.username, erased.profile.name, erased.is_active) == (f"erased-{lead.pk}", ERASED_NAME, False)


def test_retention_blanks_old_text_and_keeps_states_outcomes_and_times(history, paramedic, lead, settings):
    services.record_outcome(
        booking_id=history.pk, actor=paramedic, outcome="attended", now=history.shift.ends_at + timedelta(hours=1)
    )
    settings.RIDEALONG_RETENTION_DAYS = 30
    before = Booking.objects.get(pk=history.pk)
    process_due(now=history.shift.ends_at + timedelta(days=29))
    assert Booking.objects.get(pk=history.pk).purpose == before.purpose  # not yet
    # Serialised copies of the text (a remembered feed answer, a stored event) must go with it.
    from scheduling.calendar import build_feed
    from scheduling.models import FeedEvent, FeedState

    ics = build_feed(owner=before.requested_by, bookings=[before], now=before.shift.starts_at, stored=True)
    assert before.purpose.encode() in ics.replace(b"\r\n ", b"") and FeedEvent.objects.exists()
    FeedState.objects.create(
        person_id=before.requested_by_id, etag='"x"', valid_until=before.shift.ends_at, snapshot="", body=ics
    )
    process_due(now=history.shift.ends_at + timedelta(days=31))
    assert not FeedEvent.objects.exists() and not FeedState.objects.exists()
    after = Booking.objects.get(pk=history.pk)
    assert after.purpose == "" and (after.status, after.outcome, after.created_at) == (
        "approved",
        "attended",
        before.created_at,
    )
    assert set(Consent.objects.filter(booking=history).values_list("note", flat=True)) == {""}
    assert set(Reflection.objects.filter(booking=history).values_list("text", flat=True)) == {""}
    assert set(Feedback.objects.filter(booking=history).values_list("text", flat=True)) == {""}
    assert not AuditEvent.objects.filter(booking=history).exclude(note="").exists()
    assert AuditEvent.objects.filter(booking=history).count() > 0


def test_newer_bookings_keep_their_text(requester, station, book, now, settings):
    settings.RIDEALONG_RETENTION_DAYS = 30
    shift = make_shift(make_resource(station, "DA77"), local(2026, 10, 20, 7), local(2026, 10, 20, 19))
    booking = book(requester, shift)
    process_due(now=datetime(2026, 11, 1, tzinfo=UTC))
    assert Booking.objects.get(pk=booking.pk).purpose == "Learn how nights run"
