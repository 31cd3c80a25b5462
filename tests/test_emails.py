"""E-mails people can act on (SPEC §8), sent to a real SMTP server and read back; one-tap answer links."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from scheduling import services
from scheduling.delivery import deliver_batch, process_due
from scheduling.models import Booking, Notification
from tests.factories import local, make_person, make_shift

NOW = datetime(2026, 10, 1, 12, tzinfo=UTC)


def send_all():
    while deliver_batch(now=NOW + timedelta(days=400))[0]:
        pass


def parts(message) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return text, html


def links_in(text: str) -> dict[str, str]:
    return dict(re.findall(r"^(Give consent|Decline|Approve): (\S+)\s*$", text, flags=re.M))


@pytest.fixture
def requested(requester, mentor, night, paramedic, technician, lead, book):
    return book(requester, night, [requester, mentor], purpose="See how a night crew prioritises calls")


def test_each_kind_renders_in_text_and_html_with_people_purpose_and_local_times(smtp, requested, paramedic, lead):
    send_all()
    (ask,) = smtp.to(paramedic.email)
    text, html = parts(ask)
    assert "Sat 10 Oct 2026, 19:00 to Sun 11 Oct, 07:00" in text
    assert "Rachel Requester, Mo Mentor" in text and "See how a night crew prioritises calls" in text
    assert "Give consent: http" in text and ">Give consent</a>" in html and "Mo Mentor" in html
    (to_lead,) = smtp.to(lead.email)
    assert set(links_in(parts(to_lead)[0])) == {"Approve", "Decline"}


def test_no_e_mail_to_a_requester_or_observer_names_a_crew_member(
    smtp, requested, requester, mentor, paramedic, lead, now
):
    services.decline_consent(booking_id=requested.pk, actor=paramedic, note="Student on board", now=now)
    send_all()
    for person in (requester, mentor):
        for message in smtp.to(person.email):
            text, html = parts(message)
            for leak in ("Pat", "Paramedic", "Terry", "Student on board"):
                assert leak not in text + html + message["Subject"], (person.username, leak)


def test_the_others_are_told_when_an_observer_leaves(smtp, requested, requester, mentor, now):
    services.cancel_booking(booking_id=requested.pk, actor=mentor, now=now)
    send_all()
    left = [m for m in smtp.to(requester.email) if "left" in m["Subject"]]
    assert left and "Mo Mentor" in parts(left[0])[0]
    assert not [m for m in smtp.to(mentor.email) if "left" in m["Subject"]]


def test_reminders_can_be_turned_off_but_decisions_still_come(api, requested, requester, mentor, paramedic, lead, now):
    assert api(mentor).patch("/api/v1/me", {"reminders": False}, format="json").json()["reminders"] is False
    services.give_consent(booking_id=requested.pk, actor=paramedic, now=now)
    services.approve_booking(booking_id=requested.pk, actor=lead, now=now)
    process_due(now=requested.shift.starts_at - timedelta(hours=23))
    reminded = set(Notification.objects.filter(kind="reminder").values_list("recipient__username", flat=True))
    assert "rachel" in reminded and "mo" not in reminded
    assert Notification.objects.filter(kind="approved", recipient=mentor).exists()


def link_for(requested, person, answer):
    mail = Notification.objects.filter(booking=requested, recipient=person).order_by("id").first()
    return links_in(mail.body)[answer].split("127.0.0.1:8000", 1)[-1]


def test_a_consent_link_shows_a_page_and_only_its_post_acts(client, requested, paramedic, now):
    url = link_for(requested, paramedic, "Give consent")
    with time_machine.travel(NOW, tick=False):
        page = client.get(url)
        assert page.status_code == 200 and "Give consent?" in page.content.decode()
        assert page["Referrer-Policy"] == "strict-origin" and "no-store" in page["Cache-Control"]
        assert Booking.objects.get(pk=requested.pk).consents.get(person=paramedic).state == "pending"
        done = client.post(url, {"text": ""})
        assert done.status_code == 200 and "Thank you" in done.content.decode()
        assert Booking.objects.get(pk=requested.pk).consents.get(person=paramedic).state == "given"
        again = client.get(url)
        assert again.status_code == 410 and "has been used" in again.content.decode()
        assert client.post(url).status_code == 410


def test_altered_expired_and_superseded_links_are_refused_and_change_nothing(client, requested, paramedic, lead, now):
    give = link_for(requested, paramedic, "Give consent")
    decline = link_for(requested, paramedic, "Decline")
    altered = give[:-3] + ("A" if give[-3] != "A" else "B") + give[-2:]
    with time_machine.travel(NOW, tick=False):
        assert client.get(altered).status_code == 404
        assert client.post(altered).status_code == 404
    with time_machine.travel(requested.shift.starts_at + timedelta(minutes=1), tick=False):
        assert "expired" in client.get(give).content.decode()
    with time_machine.travel(NOW, tick=False):
        services.give_consent(booking_id=requested.pk, actor=paramedic, now=NOW)  # in the inbox instead
        refused = client.post(decline)
        assert refused.status_code == 410 and "already been answered" in refused.content.decode()
    assert Booking.objects.get(pk=requested.pk).consents.get(person=paramedic).state == "given"


def test_a_lead_approves_or_declines_with_a_reason_from_the_e_mail(
    client, requested, lead, paramedic, now, book, resource
):
    approve = link_for(requested, lead, "Approve")
    with time_machine.travel(NOW, tick=False):
        client.post(approve)
    assert Booking.objects.get(pk=requested.pk).lead_approved
    other = book(make_person(requester=True), make_shift(resource, local(2026, 10, 14, 7), local(2026, 10, 14, 19)))
    decline = link_for(other, lead, "Decline")
    with time_machine.travel(NOW, tick=False):
        missing = client.post(decline, {"text": ""})
        assert missing.status_code == 400 and Booking.objects.get(pk=other.pk).status == "pending"
        client.post(decline, {"text": "No room that week"})
    declined = Booking.objects.get(pk=other.pk)
    assert (declined.status, declined.status_note) == ("declined", "No room that week")


def test_a_link_works_for_its_own_person_booking_and_answer_only(client, requested, paramedic, technician, now):
    url = link_for(requested, paramedic, "Give consent")
    token = url.rstrip("/").rsplit("/", 1)[1]
    from django.core import signing

    from scheduling.answers import SALT

    payload = signing.loads(token, salt=SALT)
    forged = signing.dumps({**payload, "p": technician.pk}, salt="another-salt", compress=True)
    with time_machine.travel(NOW, tick=False):
        assert client.get(f"/act/{forged}/").status_code == 404
    assert signing.loads(token, salt=SALT)["p"] == paramedic.pk


def test_on_approval_every_crew_member_is_told_who_is_coming_and_requesters_never_read_crew_names(
    smtp, requested, requester, mentor, paramedic, technician, lead, now
):
    services.give_consent(booking_id=requested.pk, actor=paramedic, now=now)
    services.approve_booking(booking_id=requested.pk, actor=lead, now=now)
    send_all()
    for crew in (paramedic, technician):  # Pat was asked; Terry's consent was standing
        (confirmed,) = [m for m in smtp.to(crew.email) if "confirmed" in m["Subject"]]
        text, html = parts(confirmed)
        assert "Rachel Requester" in text and "Mo Mentor" in text and "prioritises calls" in text
        assert "Mo Mentor" in html
    for party in (requester, mentor):
        for message in smtp.to(party.email):
            text, html = parts(message)
            for name in ("Pat Paramedic", "Terry Technician", "pat", "terry"):
                assert name not in text and name not in html
    services.cancel_booking(booking_id=requested.pk, actor=requester, now=now)
    send_all()
    assert [m for m in smtp.to(technician.email) if "no longer coming" in m["Subject"]]
