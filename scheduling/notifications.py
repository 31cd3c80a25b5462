"""Who hears what (SPEC §8): outbox rows written in the transaction of the change."""

from datetime import datetime

from django.conf import settings
from django.urls import reverse

from .models import Booking, BookingStatus, Notification, PlaceState, display_name

SUBJECTS = {
    "requested": "Ride-along request: {label}",
    "consent_requested": "Can an observer join your shift? {label}",
    "consent_declined": "Ride-along declined: {label}",
    "consent_withdrawn": "Ride-along cancelled: {label}",
    "approved": "Ride-along approved: {label}",
    "declined": "Ride-along declined: {label}",
    "cancelled": "Ride-along cancelled: {label}",
    "promoted": "A place opened up: {label}",
    "waitlisted": "Ride-along on the waiting list: {label}",
    "shift_changed": "Ride-along changed: {label}",
    "expired": "Ride-along expired: {label}",
    "reminder": "Tomorrow: {label}",
    "action_due": "Action due today: {label}",
    "action_overdue": "Action still open: {label}",
}

LINES = {
    "requested": "A new ride-along request needs your decision.",
    "consent_requested": "An observer has asked to join your shift. Please give or decline consent.",
    "consent_declined": "A crew member declined, so this ride-along will not go ahead.",
    "consent_withdrawn": "A crew member withdrew consent, so this ride-along has been cancelled.",
    "approved": "Your ride-along is approved. The calendar event is attached.",
    "declined": "The station declined this ride-along.",
    "cancelled": "This ride-along has been cancelled.",
    "promoted": "A place opened up and your request is now waiting for approval.",
    "waitlisted": "The shift is full, so your request is on the waiting list.",
    "shift_changed": "The shift for this ride-along has changed.",
    "expired": "The shift started before the request was approved, so it has expired.",
    "reminder": "Reminder: this ride-along is in about 24 hours.",
    "action_due": "An action you agreed after this ride-along is due today.",
    "action_overdue": "An action you agreed after this ride-along was due a week ago and is still open.",
}


def booking_url(booking: Booking) -> str:
    return settings.SITE_URL + reverse("web:booking", args=[booking.pk])


def _body(booking: Booking, kind: str, note: str) -> str:
    shift = booking.shift
    lines = [
        LINES[kind],
        "",
        shift.label,
        f"{shift.local_starts_at:%a %d %b %Y %H:%M} to {shift.local_ends_at:%a %d %b %Y %H:%M} "
        f"({shift.station.timezone})",
        f"Where: {shift.station.address or shift.station.name}",
        f"Status: {booking.status}",
    ]
    if note:
        lines.append(f"Note: {note}")
    lines += ["", f"Details: {booking_url(booking)}"]
    return "\n".join(lines)


def queue(booking: Booking, kind: str, recipients, *, now: datetime, note: str = "", dedupe: str | None = None) -> None:
    seen: set[int] = set()
    rows = []
    for person in recipients:
        if person is None or person.pk in seen or not person.email:
            continue
        seen.add(person.pk)
        rows.append(
            Notification(
                recipient=person,
                booking=booking,
                kind=kind,
                # A header is one line, whatever the names in it hold.
                subject=" ".join(SUBJECTS[kind].format(label=booking.shift.label).split())[:300],
                body=_body(booking, kind, note),
                attach_ics=kind == "approved",
                dedupe_key=f"{dedupe}:{person.pk}" if dedupe else None,
                created_at=now,
                next_attempt_at=now,
            )
        )
    # A dedupe key makes a repeat (a reminder queued twice) a no-op rather than an error.
    Notification.objects.bulk_create(rows, ignore_conflicts=bool(dedupe))


def parties(booking: Booking) -> list:
    """The requester and every observer named in the booking."""
    # A booking just made carries its places, persons included (services.base.remember_related).
    places = getattr(booking, "_prefetched_objects_cache", {}).get("places")
    if places is None:
        places = booking.places.select_related("person")
    return [booking.requested_by, *(p.person for p in places)]


def live_observers(booking: Booking) -> list:
    return [p.person for p in booking.places.select_related("person").exclude(state=PlaceState.RELEASED)]


def tell_parties(booking: Booking, kind: str, *, now: datetime, note: str = "") -> None:
    queue(booking, kind, parties(booking), now=now, note=note)


def ask_station(booking: Booking, *, now: datetime, consents=None) -> None:
    """A new pending request: the leads decide and the crew still to consent are asked.

    `consents` are the booking's consents with their persons, when the caller has them at hand.
    """
    if booking.status != BookingStatus.PENDING:
        return
    if not booking.lead_approved:
        queue(booking, "requested", booking.shift.station.leads.all(), now=now)
    if consents is None:
        consents = booking.consents.select_related("person")
    asked = [c.person for c in consents if c.state == "pending"]
    queue(booking, "consent_requested", asked, now=now)


__all__ = ["ask_station", "display_name", "queue", "tell_parties"]
