"""E-mail through the outbox (SPEC §8) against a real SMTP server on loopback."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connections, transaction

from scheduling import services
from scheduling.delivery import deliver_batch, process_due
from scheduling.models import Notification
from tests.factories import make_person

NOW = datetime(2026, 10, 1, 12, tzinfo=UTC)


def deliver_all(now):
    total = 0
    while True:
        sent, _ = deliver_batch(now=now)
        total += sent
        if not sent:
            return total


def test_each_event_reaches_the_right_people(smtp, requester, mentor, paramedic, technician, lead, night, book):
    booking = book(requester, night, [requester, mentor])
    deliver_all(NOW)
    assert [m["Subject"] for m in smtp.to(lead.email)] == ["Ride-along request: DA12 night shift, Loughborough"]
    assert len(smtp.to(paramedic.email)) == 1 and not smtp.to(technician.email)
    assert not smtp.to(requester.email)
    services.give_consent(booking_id=booking.pk, actor=paramedic, now=NOW)
    services.approve_booking(booking_id=booking.pk, actor=lead, now=NOW)
    deliver_all(NOW)
    for person in (requester, mentor):
        approved = smtp.to(person.email)[-1]
        assert approved["Subject"].startswith("Ride-along approved")
        attachments = [p for p in approved.iter_attachments() if p.get_content_type() == "text/calendar"]
        assert attachments and b"BEGIN:VEVENT" in attachments[0].get_content().encode()
        body = approved.get_body(("plain",)).get_content()
        assert f"/bookings/{booking.pk}/" in body
        assert approved.get_body(("html",)) is not None


def test_requesters_never_learn_who_declined(smtp, requester, paramedic, night, book):
    booking = book(requester, night)
    services.decline_consent(booking_id=booking.pk, actor=paramedic, note="I know them", now=NOW)
    deliver_all(NOW)
    message = smtp.to(requester.email)[-1]
    text = message.get_body(("plain",)).get_content()
    assert "A crew member declined" in text
    assert "Pat" not in text and "I know them" not in text


def test_with_the_server_down_messages_wait_then_arrive_exactly_once(smtp, requester, night, lead, book, settings):
    book(requester, night)
    smtp.down()
    sent, failed = deliver_batch(now=NOW)
    assert (sent, failed) == (0, 2)
    waiting = Notification.objects.filter(sent_at=None)
    assert waiting.count() == 2 and all(n.last_error and n.attempts == 1 for n in waiting)
    assert deliver_batch(now=NOW + timedelta(seconds=5)) == (0, 0)  # backing off
    smtp.up()
    later = NOW + timedelta(minutes=10)
    assert deliver_all(later) == 2
    assert deliver_all(later + timedelta(hours=2)) == 0
    assert len(smtp.to(lead.email)) == 1


def test_a_rolled_back_change_sends_nothing(smtp, requester, night):
    with pytest.raises(RuntimeError), transaction.atomic():
        services.request_booking(actor=requester, shift_id=night.pk, purpose="x", now=NOW)
        raise RuntimeError("something later in the same change failed")
    assert not Notification.objects.exists()
    assert deliver_all(NOW) == 0 and smtp.messages == []


def test_process_due_expires_and_reminds_once(requester, paramedic, technician, lead, night, book):
    pending = book(requester, night)
    services.give_consent(booking_id=pending.pk, actor=paramedic, now=NOW)
    services.approve_booking(booking_id=pending.pk, actor=lead, now=NOW)
    day_before = night.starts_at - timedelta(hours=23)
    first = process_due(now=day_before)
    assert (first["expired"], first["reminders"]) == (0, 3)  # the observer and both crew
    again = process_due(now=day_before + timedelta(minutes=1))
    assert (again["expired"], again["reminders"]) == (0, 0)
    waiting_requester = make_person("late", requester=True)
    late = services.request_booking(actor=waiting_requester, shift_id=night.pk, purpose="x", now=NOW)
    assert late.status == "pending"
    assert process_due(now=night.starts_at)["expired"] == 1
    last = process_due(now=night.starts_at)
    assert (last["expired"], last["reminders"]) == (0, 0)


def test_a_notification_that_keeps_failing_is_dead_after_ten_tries_and_can_be_sent_again(
    requester, night, book, settings, admin_client
):
    from scheduling.delivery import deliver_batch

    settings.EMAIL_BACKEND = "tests.test_notifications.FailingBackend"
    book(requester, night)
    note = Notification.objects.order_by("id").first()
    at = NOW
    for _ in range(10):
        Notification.objects.filter(pk=note.pk).update(next_attempt_at=at)
        deliver_batch(now=at)
        at += timedelta(hours=2)
    note.refresh_from_db()
    assert note.dead_at is not None and note.attempts == 10 and note.sent_at is None
    Notification.objects.filter(pk=note.pk).update(next_attempt_at=at)
    deliver_batch(now=at)
    note.refresh_from_db()
    assert note.attempts == 10  # dead: not tried again
    listed = admin_client.get("/admin/scheduling/notification/?delivery=dead")
    assert str(note.pk) in listed.content.decode()
    admin_client.post("/admin/scheduling/notification/", {"action": "send_again", "_selected_action": [note.pk]})
    note.refresh_from_db()
    assert note.dead_at is None and note.attempts == 0


def test_process_due_prunes_old_sent_mail_and_idempotency_records(requester, night, book):
    from scheduling.models import IdempotencyRecord

    book(requester, night)
    Notification.objects.update(sent_at=NOW)
    IdempotencyRecord.objects.create(person=requester, key="old", request_hash="x", created_at=NOW)
    kept = process_due(now=NOW + timedelta(days=29))["pruned"]
    assert kept == {"notifications": 0, "idempotency_keys": 1}
    sent = Notification.objects.filter(sent_at=NOW).count()
    assert sent > 0
    assert process_due(now=NOW + timedelta(days=31))["pruned"]["notifications"] == sent
    assert not Notification.objects.filter(sent_at=NOW).exists()


class FailingBackend:
    def __init__(self, *args, **kwargs):
        pass

    def open(self):
        return True

    def close(self):
        pass

    def send_messages(self, messages):
        raise OSError("the mail server said no")


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    not django_settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
    reason="SKIP LOCKED needs PostgreSQL: run with DATABASE_URL=postgres://postgres@127.0.0.1/ridealong",
)
def test_two_workers_deliver_each_message_exactly_once(smtp):
    people = [make_person(cleared=False) for _ in range(60)]
    Notification.objects.bulk_create(
        [
            Notification(
                recipient=p, kind="requested", subject=f"Message {i}", body="Hello", created_at=NOW, next_attempt_at=NOW
            )
            for i, p in enumerate(people)
        ]
    )
    barrier = threading.Barrier(2)

    def worker():
        try:
            barrier.wait()
            while deliver_batch(now=NOW, limit=5)[0]:
                pass
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    subjects = sorted(m["Subject"] for _, m in smtp.messages)
    assert subjects == sorted(f"Message {i}" for i in range(60))
    assert Notification.objects.filter(sent_at=None).count() == 0
