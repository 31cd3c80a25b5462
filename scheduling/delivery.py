"""Delivering the outbox (SPEC §8): claim, send outside any transaction, record; nothing sent twice."""

import contextlib
import logging
from datetime import datetime, time, timedelta
from html import escape

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from . import notifications
from .calendar import build_feed
from .languages import writing_to
from .logging import mask
from .models import Booking, BookingStatus, Heartbeat, Notification, PlaceState
from .services import expire_due, open_requests, paperwork, programmes, visitors, write_transaction
from .services.privacy import forget_old_text

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 10
KEEP_SENT = timedelta(days=30)
MAX_BACKOFF = timedelta(hours=1)
REMINDER_AHEAD = timedelta(hours=24)


def claim(*, now: datetime, limit: int = 50) -> list[Notification]:
    """Lease due rows to this worker; SKIP LOCKED lets a second worker take different rows at once."""
    with transaction.atomic():
        due = Notification.objects.filter(sent_at=None, dead_at=None, next_attempt_at__lte=now).order_by(
            "next_attempt_at", "id"
        )
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        rows = list(due[:limit].values_list("pk", flat=True))
        # The lease: until it runs out no other worker sees these rows as due.
        Notification.objects.filter(pk__in=rows).update(next_attempt_at=now + LEASE, attempts=F("attempts") + 1)
    claimed = list(
        Notification.objects.filter(pk__in=rows)
        .select_related("recipient__profile", "booking__shift__station", "booking__shift__resource")
        .order_by("id")
    )
    for note in claimed:
        note.lease_until = now + LEASE
    return claimed


def renew_lease(note: Notification) -> bool:
    """Just before sending: keep the row for another LEASE, if this worker still holds it. A slow relay
    may outlast a batch's first lease; a row another worker has claimed since is left to that worker, so
    each notification goes once whatever the relay's speed (SPEC §16)."""
    until = max(timezone.now(), note.lease_until) + LEASE
    held = Notification.objects.filter(pk=note.pk, sent_at=None, next_attempt_at=note.lease_until).update(
        next_attempt_at=until
    )
    note.lease_until = until
    return held == 1


def message_id(note: Notification) -> str:
    """One Message-ID per notification: a copy sent again is the same message to the reader's mail client."""
    domain = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1].strip(">").strip() or "ridealong.localhost"
    return f"<notification-{note.pk}@{domain}>"


def render(note: Notification) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=note.subject,
        body=note.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[note.recipient.email],
        headers={"Message-ID": message_id(note)},
    )
    if note.html:
        message.attach_alternative(note.html, "text/html")
    else:
        # Rows queued before e-mails had their own HTML: make it from the text.
        paragraphs = "".join(f"<p>{escape(p).replace(chr(10), '<br>')}</p>" for p in note.body.split("\n\n"))
        message.attach_alternative(f"<!doctype html><html><body>{paragraphs}</body></html>", "text/html")
    if note.attach_ics and note.booking_id:
        booking = (
            Booking.objects.select_related("shift__station", "shift__resource")
            .prefetch_related("places", "shift__crew_members")
            .get(pk=note.booking_id)
        )
        with writing_to(note.recipient):
            ics = build_feed(owner=note.recipient, bookings=[booking], now=timezone.now(), name="Ride-along")
        message.attach(f"ride-along-{booking.pk}.ics", ics, "text/calendar; charset=utf-8")
    return message


def deliver_batch(*, now: datetime | None = None, limit: int = 50) -> tuple[int, int]:
    """Send what is due; returns (sent, failed). A failure waits with exponential backoff."""
    now = now or timezone.now()
    # The worker is alive whether or not there is anything to send (/readyz reads this).
    Heartbeat.beat("delivery", timezone.now())
    rows = claim(now=now, limit=limit)
    if not rows:
        return 0, 0
    sent = failed = 0
    mail = get_connection(fail_silently=False)
    try:
        mail.open()
    except Exception as error:  # noqa: BLE001 - the server is down: every row waits for the next try
        for note in rows:
            _postpone(note, error, now)
        return 0, len(rows)
    try:
        for note in rows:
            if not renew_lease(note):
                continue
            try:
                mail.send_messages([render(note)])
            except Exception as error:  # noqa: BLE001 - one bad message must not stop the rest
                _postpone(note, error, now)
                failed += 1
            else:
                # Once sent, the one-tap links it held are no use to keep: the outbox (and an export of it)
                # holds no answer token.
                Notification.objects.filter(pk=note.pk).update(
                    sent_at=timezone.now(), last_error="", body=mask(note.body), html=mask(note.html)
                )
                sent += 1
    finally:
        # Closing a broken connection may fail too; the results are already recorded.
        with contextlib.suppress(Exception):
            mail.close()
    return sent, failed


def _postpone(note: Notification, error: Exception, now: datetime) -> None:
    """Try again later with exponential backoff; after MAX_ATTEMPTS the row is dead (SPEC §16)."""
    if note.attempts >= MAX_ATTEMPTS:
        logger.error("giving up on notification %s after %s attempts: %s", note.pk, note.attempts, error)
        Notification.objects.filter(pk=note.pk).update(dead_at=now, last_error=str(error)[:2000])
        return
    backoff = min(timedelta(seconds=30) * (2 ** max(note.attempts - 1, 0)), MAX_BACKOFF)
    logger.warning("could not send notification %s (attempt %s): %s", note.pk, note.attempts, error)
    Notification.objects.filter(pk=note.pk).update(next_attempt_at=now + backoff, last_error=str(error)[:2000])


def send_again(notification_ids, *, now: datetime) -> int:
    """Give dead (or failing) notifications a fresh set of attempts, from now."""
    return Notification.objects.filter(pk__in=list(notification_ids), sent_at=None).update(
        dead_at=None, attempts=0, next_attempt_at=now, last_error=""
    )


def prune(*, now: datetime) -> dict:
    """Drop what nothing needs any more: sent mail after 30 days, idempotency records after a day."""
    from .models import ApiRateWindow, IdempotencyRecord

    ApiRateWindow.objects.filter(started_at__lt=now - timedelta(hours=1)).delete()
    sent, _ = Notification.objects.filter(sent_at__lt=now - KEEP_SENT).delete()
    keys, _ = IdempotencyRecord.objects.filter(created_at__lt=now - IdempotencyRecord.TTL).delete()
    return {"notifications": sent, "idempotency_keys": keys}


def queue_reminders(*, now: datetime) -> int:
    """Queue each approved booking's 24-hour reminder once, to its observers and crew."""
    due = (
        Booking.objects.filter(
            status=BookingStatus.APPROVED, shift__starts_at__gt=now, shift__starts_at__lte=now + REMINDER_AHEAD
        )
        .select_related("shift__station", "shift__resource", "requested_by")
        .prefetch_related("places__person__profile", "shift__crew_members__person__profile")
    )
    queued = 0
    for booking in due:
        key = f"reminder:{booking.pk}:{booking.shift.starts_at.isoformat()}"
        with write_transaction():
            before = Notification.objects.filter(dedupe_key__startswith=key + ":").count()
            recipients = [p.person for p in booking.places.all() if p.state == PlaceState.HELD]
            recipients += [c.person for c in booking.shift.crew_members.all()]
            notifications.queue(booking, "reminder", recipients, now=now, dedupe=key, reminder=True)
            queued += Notification.objects.filter(dedupe_key__startswith=key + ":").count() - before
    return queued


ACTION_HOUR = time(8)
OVERDUE_AFTER = timedelta(days=7)


def queue_action_reminders(*, now: datetime) -> int:
    """At 08:00 station time on an open action's due date, and a week later if still open, tell its owner.

    Each exactly once: the outbox's dedupe key holds even when two runs race, and the action
    remembers which due date each reminder was for, so later runs skip it cheaply.
    """
    from .models import FollowUp

    # Every station's 08:00 on a date has passed by the end of the next UTC day.
    latest = now.date() + timedelta(days=1)
    candidates = (
        FollowUp.objects.filter(done=False, due_on__isnull=False, due_on__lte=latest)
        .filter(
            Q(due_reminder_for__isnull=True)
            | ~Q(due_reminder_for=F("due_on"))
            | Q(due_on__lte=latest - OVERDUE_AFTER, overdue_reminder_for__isnull=True)
            | (Q(due_on__lte=latest - OVERDUE_AFTER) & ~Q(overdue_reminder_for=F("due_on")))
        )
        .select_related(
            "booking__shift__station", "booking__shift__resource", "booking__requested_by", "owner__profile"
        )
    )
    queued = 0
    for action in candidates:
        tz = action.booking.shift.station.tz
        # 08:00 on the due date in the station's zone, whatever the clocks did that night.
        due_at = datetime.combine(action.due_on, ACTION_HOUR, tz)
        for kind, field, at in (
            ("action_due", "due_reminder_for", due_at),
            (
                "action_overdue",
                "overdue_reminder_for",
                datetime.combine(action.due_on + OVERDUE_AFTER, ACTION_HOUR, tz),
            ),
        ):
            if now < at or getattr(action, field) == action.due_on:
                continue
            if kind == "action_overdue" and action.due_reminder_for != action.due_on:
                continue  # the due reminder first
            key = f"{kind}:{action.pk}:{action.due_on.isoformat()}"
            with write_transaction():
                before = Notification.objects.filter(dedupe_key__startswith=key + ":").count()
                notifications.queue(
                    action.booking, kind, [action.owner], now=now, note=action.text, dedupe=key, reminder=True
                )
                queued += Notification.objects.filter(dedupe_key__startswith=key + ":").count() - before
                FollowUp.objects.filter(pk=action.pk).update(**{field: action.due_on})
                setattr(action, field, action.due_on)
    return queued


def process_due(*, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    Heartbeat.beat("process_due", timezone.now())
    return {
        "expired": expire_due(now=now),
        "requests_lapsed": open_requests.lapse_open_requests(now=now),
        "requests_placed": open_requests.place_waiting_requests(now=now),
        "programme_nudges": programmes.queue_nudges(now=now),
        "visitors_forgotten": visitors.forget_unaccepted(now=now),
        "clearances_ending": paperwork.queue_expiry_reminders(now=now),
        "reminders": queue_reminders(now=now),
        "action_reminders": queue_action_reminders(now=now),
        "pruned": prune(now=now),
        "text_forgotten": forget_old_text(now=now),
    }
