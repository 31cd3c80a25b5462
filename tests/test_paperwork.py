"""Paperwork signed online and the third gate (SPEC §19)."""

import re
from datetime import date, timedelta

import pytest
import time_machine
from django.test import Client

from scheduling import services
from scheduling.errors import Invalid, RuleViolation
from scheduling.models import AuditEvent, Booking, BookingStatus, Clearance, Notification
from scheduling.services import paperwork
from tests.factories import local, make_person, make_shift


@pytest.fixture
def documents(now):
    made = {}
    for kind, title in (("confidentiality", "Confidentiality agreement"), ("briefing", "Safety briefing")):
        made[kind] = paperwork.publish(actor=None, kind=kind, title=title, body="Read me.\n\nThen sign.", now=now)
    return made


@pytest.fixture
def director(db):
    """Mo's mentor from outside the trust: a DBS check on record, nothing signed yet."""
    person = make_person("dana", name="Dana Director", cleared=False)
    Clearance.objects.create(person=person, kind="dbs", valid_from=date(2020, 1, 1))
    return person


def sign(person, kind, documents, now, **kw):
    return paperwork.sign(
        person=person,
        kind=kind,
        version=kw.pop("version", documents[kind].version),
        full_name=kw.pop("full_name", person.profile.name),
        agree=kw.pop("agree", True),
        now=now,
    )


def test_the_gate_through_its_states(
    api, requester, director, night, paramedic, technician, lead, documents, book, now
):
    booking = book(requester, night, [requester, director])
    assert booking.status == BookingStatus.PENDING
    assert Notification.objects.filter(recipient=director, kind="paperwork_needed").exists()
    assert not Notification.objects.filter(recipient=requester, kind="paperwork_needed").exists()
    with time_machine.travel(now, tick=False):
        seen = api(requester).get(f"/api/v1/bookings/{booking.pk}").json()
    assert seen["paperwork"] == "outstanding"
    assert seen["paperwork_missing"] == [
        {"observer": director.pk, "kind": "confidentiality"},
        {"observer": director.pk, "kind": "briefing"},
    ]
    services.give_consent(booking_id=booking.pk, actor=paramedic, now=now)
    services.approve_booking(booking_id=booking.pk, actor=lead, now=now)
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.PENDING  # lead and crew: yes; paperwork: no
    sign(director, "confidentiality", documents, now)
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.PENDING
    sign(director, "briefing", documents, now)
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.APPROVED  # at once
    assert AuditEvent.objects.filter(booking=booking, action="approved").count() == 1
    with time_machine.travel(now, tick=False):
        assert api(requester).get(f"/api/v1/bookings/{booking.pk}").json()["paperwork"] == "complete"
    assert Notification.objects.filter(recipient=requester, kind="approved", booking=booking).exists()


def test_an_unsigned_booking_expires_at_the_start_and_a_missing_dbs_check_still_refuses(
    requester, director, resource, night, documents, book, now
):
    from scheduling.services import expire_due

    earlier = make_shift(resource, local(2026, 10, 8, 7), local(2026, 10, 8, 19), now=now)
    twin = book(requester, earlier, [director])
    expire_due(now=earlier.starts_at)
    assert Booking.objects.get(pk=twin.pk).status == BookingStatus.EXPIRED
    nobody = make_person("nemo", cleared=False)
    with pytest.raises(RuleViolation) as refused:
        book(requester, night, [nobody])
    assert refused.value.code == "clearance_missing" and refused.value.data["kinds"] == ["dbs"]


def test_signing_rules(api, director, documents, now):
    old = documents["briefing"].version
    newer = paperwork.publish(actor=None, kind="briefing", title="Safety briefing", body="New text.", now=now)
    with pytest.raises(RuleViolation) as changed:
        sign(director, "briefing", documents, now, version=old)
    assert changed.value.code == "document_changed"
    with pytest.raises(Invalid) as wrong:
        sign(director, "briefing", {"briefing": newer}, now, full_name="Someone Else")
    assert "full_name" in wrong.value.fields
    made = sign(director, "briefing", {"briefing": newer}, now, full_name="  dana   DIRECTOR ")
    today = now.date()
    assert (made.valid_from, made.valid_until) == (today, today + timedelta(days=365))
    assert made.reference == "signed online: Safety briefing v2" and made.document == newer
    event = AuditEvent.objects.get(subject=director, action="paperwork_signed")
    assert (event.code, event.note, event.actor) == ("briefing", "Safety briefing v2", director)
    # Re-signing after it has run out gives a fresh year.
    later = now + timedelta(days=400)
    again = sign(director, "briefing", {"briefing": newer}, later)
    assert again.valid_until == later.date() + timedelta(days=365)


def test_the_api_signs_only_ones_own_paperwork(api, director, requester, documents, now):
    with time_machine.travel(now, tick=False):
        listed = api(director).get("/api/v1/me/paperwork").json()
        assert [(e["kind"], e["clearance"]) for e in listed] == [("confidentiality", None), ("briefing", None)]
        assert listed[0]["document"]["body"] == "Read me.\n\nThen sign."
        url = "/api/v1/me/paperwork/confidentiality/sign"
        body = {"version": documents["confidentiality"].version, "full_name": "Dana Director", "agree": True}
        assert api(director).post(url, {**body, "agree": False}, format="json").status_code == 400
        stale = api(director).post(url, {**body, "version": 99}, format="json")
        assert stale.status_code == 409 and stale.json()["code"] == "document_changed"
        # Rachel cannot sign as Dana: her own paperwork is the only one she reaches, in her own name.
        assert api(requester).post(url, body, format="json").status_code == 400
        done = api(director).post(url, body, format="json")
        assert done.status_code == 201 and done.json()["kind"] == "confidentiality"
        assert api(director).post("/api/v1/me/paperwork/dbs/sign", body, format="json").status_code == 404
        assert [d["kind"] for d in api(requester).get("/api/v1/paperwork").json()] == ["briefing", "confidentiality"]


def test_a_document_body_is_shown_as_text_never_html(client, director, now):
    paperwork.publish(actor=None, kind="briefing", title="Safety briefing", body="<script>alert(1)</script>", now=now)
    client.force_login(director)
    page = client.get("/paperwork/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page


def test_signing_on_the_page(client, director, documents, now):
    client.force_login(director)
    refused = client.post("/paperwork/", {"kind": "briefing", "version": documents["briefing"].version})
    assert refused.status_code == 400 and "Type your full name to sign" in refused.content.decode()
    done = client.post(
        "/paperwork/",
        {"kind": "briefing", "version": documents["briefing"].version, "full_name": "Dana Director", "agree": "on"},
        follow=True,
    )
    assert "Signed." in done.content.decode()
    assert Clearance.objects.filter(person=director, kind="briefing", document=documents["briefing"]).exists()


def test_expiry_reminders_30_and_7_days_before_once_each_and_not_once_renewed(smtp, director, documents, now):
    from scheduling.delivery import deliver_batch, process_due

    signed = sign(director, "briefing", documents, now)
    ends = signed.valid_until

    def run(day):
        at = local(day.year, day.month, day.day, 9)
        process_due(now=at)
        while deliver_batch(now=at)[0]:
            pass
        return [m for m in smtp.to(director.email) if "ends on" in m["Subject"]]

    assert run(ends - timedelta(days=31)) == []
    first = run(ends - timedelta(days=30))
    assert len(first) == 1 and "/paperwork/" in first[0].get_body(("plain",)).get_content()
    assert len(run(ends - timedelta(days=29))) == 1  # not again
    assert len(run(ends - timedelta(days=7))) == 2
    assert len(run(ends - timedelta(days=6))) == 2
    # Another clearance, renewed before its reminders: none comes.
    other = sign(director, "confidentiality", documents, now)
    paperwork.sign(
        person=director,
        kind="confidentiality",
        version=documents["confidentiality"].version,
        full_name="Dana Director",
        agree=True,
        now=now + timedelta(days=300),
    )
    before = len(smtp.to(director.email))
    run(other.valid_until - timedelta(days=30))
    run(other.valid_until - timedelta(days=7))
    assert [m["Subject"] for m in smtp.to(director.email)[before:] if "confidentiality" in m["Subject"]] == []


def test_the_booking_page_queue_and_one_tap_page_show_the_paperwork_gate(
    client, requester, director, night, paramedic, lead, documents, book, now
):
    booking = book(requester, night, [requester, director])
    services.give_consent(booking_id=booking.pk, actor=paramedic, note="Happy to have them", now=now)
    client.force_login(lead)
    with time_machine.travel(now, tick=False):
        page = client.get(f"/bookings/{booking.pk}/").content.decode()
        queue = client.get("/lead/queue/").content.decode()
    assert "Dana Director still has to sign the confidentiality agreement and safety briefing online" in page
    assert "Dana Director still has to sign" in queue and "Happy to have them" in queue
    mail = Notification.objects.get(recipient=lead, kind="requested")
    link = re.search(r"^Approve: http://127\.0\.0\.1:8000(\S+)$", mail.body, re.M).group(1)
    with time_machine.travel(now, tick=False):
        one_tap = Client().get(link).content.decode()
    assert "Dana Director still has to sign" in one_tap and "Happy to have them" in one_tap
    sign(director, "confidentiality", documents, now)
    sign(director, "briefing", documents, now)
    with time_machine.travel(now, tick=False):
        assert "still has to sign" not in client.get(f"/bookings/{booking.pk}/").content.decode()


def test_a_dbs_check_ending_before_a_held_booking_is_reminded_with_who_records_it(
    smtp, director, documents, requester, lead, night, now
):
    """Kinds not signed online (a DBS check) are recorded by a lead: the reminder names the station's leads,
    has no link to sign, and comes only while a held booking needs the clearance (SPEC §19)."""
    from scheduling.delivery import deliver_batch, process_due

    dbs = Clearance.objects.get(person=director, kind="dbs")
    dbs.valid_until = date(2026, 11, 4)  # it covers the night of 10 October, then ends
    dbs.save(update_fields=["valid_until"])
    at = local(2026, 10, 5, 9)  # 30 days before it ends, five before the night

    def run():
        process_due(now=at)
        while deliver_batch(now=at)[0]:
            pass
        return [m for m in smtp.to(director.email) if "ends on" in m["Subject"]]

    assert run() == []  # no booking needs it: nothing to say
    for kind in ("confidentiality", "briefing"):
        sign(director, kind, documents, now)
    services.request_booking(
        actor=requester, shift_id=night.pk, observer_ids=[director.pk], purpose="Mentoring", now=now
    )
    (mail,) = run()
    assert "DBS check" in mail["Subject"] and "4 Nov 2026" in mail["Subject"]
    text = mail.get_body(("plain",)).get_content()
    assert "A station lead records its renewal: ask Lee Lead." in text and "/paperwork/" not in text
