"""E-mail once per notification whatever the relay's speed (SPEC §16): three workers, a relay slower than a
batch's lease, every notification delivered exactly once, each with its own stable Message-ID."""

import asyncio
import threading
import time
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings
from django.db import connection
from django.utils import timezone

from scheduling import delivery
from scheduling.models import Notification
from tests.factories import make_person

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
        reason="workers racing for rows need PostgreSQL's SKIP LOCKED",
    ),
]


class SlowRelay:
    def __init__(self, inbox, seconds):
        self.inbox, self.seconds = inbox, seconds

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        await asyncio.sleep(self.seconds)
        return await self.inbox.handle_DATA(server, session, envelope)


def test_three_workers_and_a_relay_slower_than_the_lease_send_each_notification_once(smtp, monkeypatch):
    smtp.down()
    smtp.controller = Controller(SlowRelay(smtp, 0.4), hostname="127.0.0.1", port=smtp.port)
    smtp.controller.start()
    # A batch of ten takes four seconds at this relay; its first lease runs out after one.
    monkeypatch.setattr(delivery, "LEASE", timedelta(seconds=1))
    person = make_person("rachel", requester=True, name="Rachel Requester")
    now = timezone.now()
    Notification.objects.bulk_create(
        Notification(
            recipient=person, kind="note", subject=f"Note {n}", body="Hello", created_at=now, next_attempt_at=now
        )
        for n in range(12)
    )

    def worker():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and Notification.objects.filter(sent_at=None).exists():
            delivery.deliver_batch(limit=10)
            time.sleep(0.1)
        connection.close()

    workers = [threading.Thread(target=worker) for _ in range(3)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()

    subjects = sorted(m["Subject"] for m in smtp.to(person.email))
    assert subjects == sorted(f"Note {n}" for n in range(12))  # each once: none twice, none lost
    ids = {m["Message-ID"] for m in smtp.to(person.email)}
    assert len(ids) == 12 and all(i.startswith("<notification-") for i in ids)
    assert not Notification.objects.filter(sent_at=None).exists()
