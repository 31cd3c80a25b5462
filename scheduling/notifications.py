"""Who hears what (SPEC §8): outbox rows written in the transaction of the change."""

from datetime import datetime

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext, gettext_lazy
from django.utils.translation import gettext_lazy as _

from . import dates
from .languages import writing_to
from .models import Booking, BookingStatus, ConsentState, Notification, PlaceState, display_name

SUBJECTS = {
    "requested": gettext_lazy("Ride-along request: {label}"),
    "consent_requested": gettext_lazy("Can an observer join your shift? {label}"),
    "consent_declined": gettext_lazy("Ride-along declined: {label}"),
    "consent_withdrawn": gettext_lazy("Ride-along cancelled: {label}"),
    "approved": gettext_lazy("Ride-along approved: {label}"),
    "declined": gettext_lazy("Ride-along declined: {label}"),
    "cancelled": gettext_lazy("Ride-along cancelled: {label}"),
    "promoted": gettext_lazy("A place opened up: {label}"),
    "waitlisted": gettext_lazy("Ride-along on the waiting list: {label}"),
    "shift_changed": gettext_lazy("Ride-along changed: {label}"),
    "expired": gettext_lazy("Ride-along expired: {label}"),
    "reminder": gettext_lazy("Tomorrow: {label}"),
    "action_due": gettext_lazy("Action due today: {label}"),
    "action_overdue": gettext_lazy("Action still open: {label}"),
    "observer_left": gettext_lazy("An observer left the ride-along: {label}"),
    "request_placed": gettext_lazy("Your ride-along is placed: {label}"),
    "crew_confirmed": gettext_lazy("Observers confirmed for your shift: {label}"),
    "crew_cancelled": gettext_lazy("Observers no longer coming: {label}"),
    "paperwork_needed": gettext_lazy("Sign your paperwork for your ride-along: {label}"),
}

LINES = {
    "requested": gettext_lazy("A new ride-along request at your station needs your decision."),
    "consent_requested": gettext_lazy("Observers have asked to join your shift. Will you host them?"),
    "consent_declined": gettext_lazy("A crew member declined, so this ride-along will not go ahead."),
    "consent_withdrawn": gettext_lazy("A crew member withdrew consent, so this ride-along has been cancelled."),
    "approved": gettext_lazy("Your ride-along is approved. The calendar event is attached."),
    "declined": gettext_lazy("The station declined this ride-along."),
    "cancelled": gettext_lazy("This ride-along has been cancelled."),
    "promoted": gettext_lazy("A place opened up and your request is now waiting for approval."),
    "waitlisted": gettext_lazy("The shift is full, so your request is on the waiting list."),
    "shift_changed": gettext_lazy("The shift for this ride-along has changed."),
    "expired": gettext_lazy("The shift started before the request was approved, so it has expired."),
    "reminder": gettext_lazy("Reminder: this ride-along is in about 24 hours."),
    "action_due": gettext_lazy("An action you agreed after this ride-along is due today."),
    "action_overdue": gettext_lazy("An action you agreed after this ride-along was due a week ago and is still open."),
    "observer_left": gettext_lazy("An observer has left this ride-along; the others still have their places."),
    "request_placed": gettext_lazy(
        "The station has placed your request on this shift. The crew are being asked to host you; "
        "you will hear when it is confirmed."
    ),
    "crew_confirmed": gettext_lazy(
        "These observers are confirmed to join your shift: the station has approved it and the whole crew has agreed."
    ),
    "crew_cancelled": gettext_lazy(
        "The ride-along on your shift has been cancelled: these observers are no longer coming."
    ),
    "paperwork_needed": gettext_lazy(
        "Before this ride-along can be confirmed you need to read and sign your paperwork online "
        "(the confidentiality agreement and the safety briefing). It takes a few minutes: open My paperwork."
    ),
}


HEADLINES_FOR_ACTION = {
    "requested": gettext_lazy(
        "Please approve or decline. Your answer counts once every crew member has consented too."
    ),
    "consent_requested": gettext_lazy(
        "Tap an answer below; you can add a private note that only the station's leads see."
    ),
}
NOTE_LABELS = {
    "declined": gettext_lazy("The station's reason"),
    "cancelled": "Reason",
    "observer_left": gettext_lazy("Who left"),
    "action_due": gettext_lazy("The action"),
    "action_overdue": gettext_lazy("The action"),
}
# Who reads a kind of message: crew and leads are asked to decide; everyone else is a party to the booking.
AUDIENCES = {"consent_requested": "crew", "requested": "lead"}


def booking_url(booking: Booking) -> str:
    return settings.SITE_URL + reverse("web:booking", args=[booking.pk])


def friendly_when(shift) -> str:
    """ "Tue 1 Dec 2026, 19:00 to Wed 2 Dec, 07:00", in the station's time and the active language."""
    return dates.span(shift.local_starts_at, shift.local_ends_at)


def _observers(booking: Booking) -> list[str]:
    places = getattr(booking, "_prefetched_objects_cache", {}).get("places")
    if places is None:
        places = booking.places.select_related("person__profile")
    return [display_name(p.person) for p in places if p.state != PlaceState.RELEASED]


def message(
    booking: Booking, kind: str, person, *, note: str = "", audience: str = "party", observers: list[str] | None = None
) -> tuple[str, str, str]:
    """(subject, text, HTML) for one recipient, from the e-mail templates (SPEC §8).

    Nothing here names a crew member: messages to requesters and observers come from the booking,
    its shift and its observers only (SPEC §13).
    """
    from . import answers

    shift = booking.shift
    links = []
    if audience == "crew":
        links = [
            (gettext("Give consent"), answers.link_for(person=person, booking=booking, role="crew", answer="give")),
            (gettext("Decline"), answers.link_for(person=person, booking=booking, role="crew", answer="decline")),
        ]
    elif kind == "paperwork_needed":
        links = [(gettext("My paperwork"), settings.SITE_URL + reverse("web:paperwork"))]
    elif audience == "lead":
        links = [
            (gettext("Approve"), answers.link_for(person=person, booking=booking, role="lead", answer="approve")),
            (gettext("Decline"), answers.link_for(person=person, booking=booking, role="lead", answer="decline")),
        ]
    context = {
        "name": display_name(person),
        "headline": LINES[kind],
        "todo": HEADLINES_FOR_ACTION.get(kind, ""),
        "label": shift.label,
        "when": friendly_when(shift),
        "where": shift.station.address or shift.station.name,
        "observers": ", ".join(_observers(booking) if observers is None else observers) or gettext("none any more"),
        "purpose": booking.purpose,
        "note": note,
        "note_label": NOTE_LABELS.get(kind, "Note"),
        "links": links,
        "booking_url": booking_url(booking),
        "kind": kind,
    }
    # A header is one line, whatever the names in it hold.
    subject = " ".join(SUBJECTS[kind].format(label=shift.label).split())[:300]
    return (
        subject,
        render_to_string("email/message.txt", context),
        render_to_string("email/message.html", context),
    )


def queue(
    booking: Booking,
    kind: str,
    recipients,
    *,
    now: datetime,
    note: str = "",
    dedupe: str | None = None,
    audience: str | None = None,
    reminder: bool = False,
) -> None:
    """Write the e-mails to the outbox, in the caller's transaction; `reminder` ones respect the opt-out."""
    audience = audience or AUDIENCES.get(kind, "party")
    seen: set[int] = set()
    rows = []
    observers = _observers(booking)  # once for every recipient
    for person in recipients:
        if person is None or person.pk in seen or not person.email:
            continue
        if reminder and not person.profile.reminders:
            continue
        seen.add(person.pk)
        with writing_to(person):
            subject, text, html = message(booking, kind, person, note=note, audience=audience, observers=observers)
        rows.append(
            Notification(
                recipient=person,
                booking=booking,
                kind=kind,
                subject=subject,
                body=text,
                html=html,
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
        places = booking.places.select_related("person__profile")
    return [booking.requested_by, *(p.person for p in places)]


def tell_parties(booking: Booking, kind: str, *, now: datetime, note: str = "") -> None:
    queue(booking, kind, parties(booking), now=now, note=note)


def tell_crew(booking: Booking, kind: str, *, now: datetime) -> None:
    """The shift's active crew, every one of them however they consented: observers' names and purpose."""
    crew = [c.person for c in booking.shift.crew_members.filter(active=True).select_related("person__profile")]
    queue(booking, kind, crew, now=now, audience="crew_info")


def ask_station(booking: Booking, *, now: datetime, consents=None) -> None:
    """A new pending request: the leads decide and the crew still to consent are asked.

    `consents` are the booking's consents with their persons, when the caller has them at hand.
    """
    if booking.status != BookingStatus.PENDING:
        return
    if not booking.lead_approved:
        # A lead who requested or observes this booking may not decide it, so gets no answer links for it.
        involved = {booking.requested_by_id, *(p.person_id for p in booking.places.all())}
        leads = [p for p in booking.shift.station.leads.select_related("profile") if p.pk not in involved]
        queue(booking, "requested", leads, now=now)
    if consents is None:
        consents = booking.consents.select_related("person__profile")
    asked = [c.person for c in consents if c.state == ConsentState.PENDING]
    queue(booking, "consent_requested", asked, now=now)


REQUEST_MAIL = {
    # kind: (subject, first line, the page it links to)
    "request_new": (
        _("A request for a date needs placing: {station}"),
        _("Observers have asked for a date at your station. Choose a shift for them."),
        "web:station-requests",
    ),
    "request_again": (
        _("Being placed again: {station}"),
        _(
            "The shift we tried did not work out, so the station is placing your request again. "
            "You do not need to do anything."
        ),
        "web:bookings",
    ),
    "request_again_leads": (
        _("A request needs placing again: {station}"),
        _("A request your station placed needs placing again on another shift."),
        "web:station-requests",
    ),
    "request_closed": (
        _("Your request for a date is closed: {station}"),
        _("The station has closed your request for a date."),
        "web:bookings",
    ),
    "request_lapsed": (
        _("Your request for a date has lapsed: {station}"),
        _(
            "None of the dates you asked for can still be booked, so your request has lapsed. "
            "You can ask for other dates."
        ),
        "web:ask-date",
    ),
}


def request_window(request) -> str:
    return dates.date_range(request.from_date, request.to_date)


def queue_about_request(request, kind: str, recipients, *, now: datetime, note: str = "") -> None:
    """E-mails about an open request (SPEC §17), in the caller's transaction. They name the station and the
    dates asked for, never a shift tried or a crew."""
    subject, line, page = REQUEST_MAIL[kind]
    observers = [display_name(p) for p in request.observers.all()]
    rows, seen = [], set()
    for person in recipients:
        if person is None or person.pk in seen or not person.email:
            continue
        seen.add(person.pk)
        with writing_to(person):
            rows.append(_about_request(request, kind, person, subject, line, page, observers, now=now, note=note))
    Notification.objects.bulk_create(rows)


def _about_request(request, kind, person, subject, line, page, observers, *, now, note) -> Notification:
    context = {
        "name": display_name(person),
        "headline": line,
        "todo": "",
        "label_title": _("Dates"),
        "label": request_window(request),
        "when": f"{request.get_time_of_day_display()}, {request_window(request)}",
        "where": request.station.name,
        "observers": ", ".join(observers),
        "purpose": request.purpose,
        "note": note,
        "note_label": _("Reason"),
        "links": [],
        "booking_url": settings.SITE_URL + reverse(page),
        "page_label": _("See it in Ridealong"),
        "kind": kind,
    }
    return Notification(
        recipient=person,
        booking=None,
        kind=kind,
        subject=" ".join(str(subject).format(station=request.station.name).split())[:300],
        body=render_to_string("email/message.txt", context),
        html=render_to_string("email/message.html", context),
        created_at=now,
        next_attempt_at=now,
    )


def queue_note(person, kind: str, *, subject: str, headline: str, lines, links, now: datetime, dedupe: str) -> None:
    """One e-mail that is not about a booking (a programme's nudge), once per `dedupe` key and person."""
    if not person.email:
        return
    context = {
        "name": display_name(person),
        "subject": subject,
        "headline": headline,
        "lines": list(lines),
        "links": links,
    }
    Notification.objects.bulk_create(
        [
            Notification(
                recipient=person,
                kind=kind,
                subject=" ".join(str(subject).split())[:300],
                body=render_to_string("email/note.txt", context),
                html=render_to_string("email/note.html", context),
                dedupe_key=f"{dedupe}:{person.pk}",
                created_at=now,
                next_attempt_at=now,
            )
        ],
        ignore_conflicts=True,
    )


__all__ = ["ask_station", "display_name", "queue", "tell_parties"]
