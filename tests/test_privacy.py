"""Crew answers are anonymous to requesters and observers on every surface (SPEC §4, §13).

After each crew action the requester and a co-observer walk the API (booking, list, history), the
pages, their e-mails and their calendars, and find no crew member's id, username or name; the lead
does see who answered.
"""

import re
from datetime import timedelta

import pytest
import time_machine

from scheduling import services
from scheduling.models import Booking, Notification
from tests.factories import local, make_person, make_resource, make_shift


def crew_marks(*people) -> list[re.Pattern]:
    marks = []
    for person in people:
        marks.append(re.compile(re.escape(person.profile.name), re.I))
        marks.append(re.compile(rf"\b{re.escape(person.username)}\b", re.I))
    return marks


def ids_in(value, keys=("actor", "person", "by", "author")) -> set:
    """Person ids under the keys that name people, anywhere in a JSON document."""
    found = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key in keys and isinstance(item, int):
                found.add(item)
            found |= ids_in(item, keys)
    elif isinstance(value, list):
        for item in value:
            found |= ids_in(item, keys)
    return found


def surfaces(reader, booking: Booking, api, client, now) -> tuple[str, set]:
    """Everything the reader can see about the booking, as text, and the person ids in its JSON."""
    texts, ids = [], set()
    with time_machine.travel(now, tick=False):
        as_reader = api(reader)
        for path in (
            f"/api/v1/bookings/{booking.pk}",
            f"/api/v1/bookings/{booking.pk}/history",
            f"/api/v1/bookings?shift={booking.shift_id}",
        ):
            response = as_reader.get(path)
            assert response.status_code == 200, (path, response.content)
            texts.append(response.content.decode())
            ids |= ids_in(response.json())
        body = response.json()["results"]
        assert all("consents" not in b for b in body)
        ics = as_reader.get(f"/api/v1/bookings/{booking.pk}/ics")
        texts.append(ics.content.decode())
        client.force_login(reader)
        for path in (f"/bookings/{booking.pk}/", "/bookings/"):
            page = client.get(path)
            assert page.status_code == 200, path
            texts.append(page.content.decode())
        link = services.issue_calendar_token(person=reader, now=now)
        texts.append(client.get(f"/calendar/{link}.ics").content.decode())
    for mail in Notification.objects.filter(recipient=reader):
        texts.append(mail.subject + "\n" + mail.body)
    return "\n".join(texts), ids


@pytest.fixture
def observed(requester, mentor, night, book):
    """Rachel and her mentor Mo on the night; Pat asked, Terry's standing consent applied."""
    return book(requester, night, [requester, mentor])


def assert_anonymous(booking, *, readers, crew, api, client, now):
    marks = crew_marks(*crew)
    crew_ids = {c.pk for c in crew}
    for reader in readers:
        text, ids = surfaces(reader, booking, api, client, now)
        leaks = [m.pattern for m in marks if m.search(text)]
        assert not leaks, (reader.username, leaks)
        assert not ids & crew_ids, (reader.username, ids & crew_ids)


def assert_lead_sees(booking, person, lead, api, now):
    with time_machine.travel(now, tick=False):
        history = api(lead).get(f"/api/v1/bookings/{booking.pk}/history").json()
        detail = api(lead).get(f"/api/v1/bookings/{booking.pk}").json()
    assert person.pk in {e["actor"] for e in history}
    assert person.pk in {c["person"] for c in detail["consents"]}


def test_consent_given_last_completes_an_approval_without_naming_anyone(
    observed, requester, mentor, paramedic, technician, lead, api, client, now
):
    services.approve_booking(booking_id=observed.pk, actor=lead, now=now)
    services.give_consent(booking_id=observed.pk, actor=paramedic, now=now + timedelta(minutes=1))
    assert Booking.objects.get(pk=observed.pk).status == "approved"
    assert_anonymous(
        observed, readers=[requester, mentor], crew=[paramedic, technician], api=api, client=client, now=now
    )
    assert_lead_sees(observed, paramedic, lead, api, now)


def test_a_crew_decline_with_a_note_names_no_one(
    observed, requester, mentor, paramedic, technician, lead, api, client, now
):
    services.decline_consent(booking_id=observed.pk, actor=paramedic, note="Training a student that night", now=now)
    assert_anonymous(
        observed, readers=[requester, mentor], crew=[paramedic, technician], api=api, client=client, now=now
    )
    text, _ = surfaces(requester, observed, api, client, now)
    assert "Training a student" not in text
    assert_lead_sees(observed, paramedic, lead, api, now)


def test_a_withdrawal_after_approval_names_no_one(
    observed, requester, mentor, paramedic, technician, lead, api, client, now
):
    services.give_consent(booking_id=observed.pk, actor=paramedic, now=now)
    services.approve_booking(booking_id=observed.pk, actor=lead, now=now)
    services.withdraw_consent(booking_id=observed.pk, actor=paramedic, note="Changed my mind", now=now)
    assert Booking.objects.get(pk=observed.pk).cancel_reason == "consent_withdrawn"
    assert_anonymous(
        observed, readers=[requester, mentor], crew=[paramedic, technician], api=api, client=client, now=now
    )
    assert_lead_sees(observed, paramedic, lead, api, now)


def test_a_standing_consent_is_recorded_silently(requester, mentor, lead, station, book, api, client, now):
    terry = make_person("tess", name="Tess Standing", preference="always", cleared=False)
    shift = make_shift(
        make_resource(station, "DA20"), local(2026, 10, 12, 19), local(2026, 10, 13, 7), crew=[(terry, "technician")]
    )
    booking = book(requester, shift, [requester, mentor])
    services.approve_booking(booking_id=booking.pk, actor=lead, now=now)
    assert Booking.objects.get(pk=booking.pk).status == "approved"
    assert_anonymous(booking, readers=[requester, mentor], crew=[terry], api=api, client=client, now=now)


def test_a_promotion_set_off_by_a_withdrawal_names_no_one(
    requester, mentor, paramedic, technician, lead, station, book, api, client, now
):
    shift = make_shift(
        make_resource(station, "DA30", seats=1),
        local(2026, 10, 14, 19),
        local(2026, 10, 15, 7),
        crew=[(paramedic, "paramedic"), (technician, "technician")],
    )
    first = book(requester, shift)
    services.give_consent(booking_id=first.pk, actor=paramedic, now=now)
    waiting = book(mentor, shift, at=now + timedelta(minutes=1))
    assert waiting.status == "waitlisted"
    services.withdraw_consent(booking_id=first.pk, actor=paramedic, now=now + timedelta(minutes=2))
    assert Booking.objects.get(pk=waiting.pk).status == "pending"
    assert_anonymous(waiting, readers=[mentor], crew=[paramedic, technician], api=api, client=client, now=now)
    assert_anonymous(first, readers=[requester], crew=[paramedic, technician], api=api, client=client, now=now)


def test_dates_of_birth_are_read_only_by_admins_and_the_person(api, requester, lead, admin_user, station, now):
    from datetime import date

    services.update_person(person=requester, now=now, date_of_birth=date(1990, 5, 6))
    path = f"/api/v1/people/{requester.pk}"
    assert api(lead).get(path).json()["date_of_birth"] is None
    assert api(admin_user).get(path).json()["date_of_birth"] == "1990-05-06"
    assert api(requester).get(path).json()["date_of_birth"] == "1990-05-06"
    listed = {p["id"]: p for p in api(lead).get("/api/v1/people").json()["results"]}
    assert listed[requester.pk]["date_of_birth"] is None


def test_nobody_records_changes_or_removes_their_own_clearance(api, lead, station, admin_user, now):
    response = api(lead).post(
        f"/api/v1/people/{lead.pk}/clearances", {"kind": "dbs", "valid_from": "2026-01-01"}, format="json"
    )
    assert response.status_code == 403 and response.json()["code"] == "conflict_of_interest"
    assert not lead.clearances.exists()
    clearance = services.add_clearance(actor=admin_user, person=lead, kind="dbs", valid_from=now.date(), now=now)
    response = api(lead).delete(f"/api/v1/clearances/{clearance.pk}")
    assert response.status_code == 403 and response.json()["code"] == "conflict_of_interest"
    assert lead.clearances.filter(pk=clearance.pk).exists()


def test_every_clearance_change_is_on_the_persons_history(api, requester, lead, admin_user, station, outsider, now):
    made = api(lead).post(
        f"/api/v1/people/{requester.pk}/clearances",
        {"kind": "dbs", "valid_from": "2026-01-01", "valid_until": "2029-01-01", "reference": "DBS-123"},
        format="json",
    )
    assert made.status_code == 201
    assert api(lead).delete(f"/api/v1/clearances/{made.json()['id']}").status_code == 204
    history = api(requester).get(f"/api/v1/people/{requester.pk}/history").json()["results"]
    assert history[0]["action"] == "person_added"  # by the system, in the test's set-up
    history = history[1:]
    assert [(e["action"], e["actor"]) for e in history] == [
        ("clearance_recorded", lead.pk),
        ("clearance_removed", lead.pk),
    ]
    assert "DBS-123" in history[0]["note"] and "2029-01-01" in history[0]["note"]
    assert api(admin_user).get(f"/api/v1/people/{requester.pk}/history").status_code == 200
    for other in (lead, outsider):
        assert api(other).get(f"/api/v1/people/{requester.pk}/history").status_code == 404
