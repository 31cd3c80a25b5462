"""Everything held about one person, as one JSON document (SPEC §13), with every privacy rule applied.

The bookings, their history and feedback are rendered by the API's own serializers for this reader,
so what the export shows of other people is exactly what the API would show them.
"""

from datetime import datetime
from types import SimpleNamespace

from django.db.models import Q

from . import access
from .api import serializers as s
from .models import AuditEvent, Booking, Clearance, Consent, Feedback, FollowUp, Notification, Reflection


def export_person(person, *, now: datetime) -> dict:
    context = {"request": SimpleNamespace(user=person), "viewer": person}
    bookings = list(
        access.bookings_for_listing(person)
        .filter(Q(requested_by=person) | Q(places__person=person) | Q(shift__crew_members__person=person))
        .distinct()
        .order_by("created_at", "id")
    )
    history = {}
    for event in AuditEvent.objects.filter(booking__in=bookings).select_related("booking__shift__station"):
        station = event.booking.shift.station
        history.setdefault(event.booking_id, []).append(
            s.AuditEventSerializer(
                event, context={"show_private": access.sees_private(person, station.pk), "tz": station.tz}
            ).data
        )
    roles = {}
    for booking in bookings:
        mine = []
        if booking.requested_by_id == person.pk:
            mine.append("requested")
        if any(p.person_id == person.pk for p in booking.places.all()):
            mine.append("observing")
        roles[booking.pk] = mine
    crew_of = set(
        Booking.objects.filter(pk__in=[b.pk for b in bookings], shift__crew_members__person=person).values_list(
            "pk", flat=True
        )
    )
    profile = person.profile
    return {
        "exported_at": now.isoformat(),
        "profile": {
            "id": person.pk,
            "username": person.username,
            "name": profile.name,
            "email": person.email,
            "staff_number": profile.staff_number,
            "date_of_birth": profile.date_of_birth.isoformat() if profile.date_of_birth else None,
            "is_requester": profile.is_requester,
            "consent_preference": profile.consent_preference,
            "is_active": person.is_active,
            "joined": person.date_joined.isoformat(),
            "lead_of": sorted(access.lead_station_ids(person)),
        },
        "clearances": s.ClearanceSerializer(Clearance.objects.filter(person=person).order_by("id"), many=True).data,
        "bookings": [
            {
                "roles": roles[b.pk] + (["hosting"] if b.pk in crew_of else []),
                "booking": s.BookingSerializer(b, context=context).data,
                "history": history.get(b.pk, []),
            }
            for b in bookings
        ],
        "consents": [
            {"booking": c.booking_id, "state": c.state, "source": c.source or None, "at": c.at, "note": c.note}
            for c in Consent.objects.filter(person=person).order_by("id")
        ],
        "reflections": [
            {"booking": r.booking_id, "text": r.text, "shared": r.shared, "updated_at": r.updated_at}
            for r in Reflection.objects.filter(author=person).order_by("id")
        ],
        "actions": s.ActionSerializer(
            FollowUp.objects.filter(Q(owner=person) | Q(created_by=person)).distinct().order_by("id"), many=True
        ).data,
        "feedback_received": [
            s.FeedbackSerializer(f, context={"viewer": person, "station_id": f.booking.shift.station_id}).data
            | {"booking": f.booking_id}
            for f in Feedback.objects.filter(booking__places__person=person)
            .select_related("author__profile", "booking__shift")
            .distinct()
            .order_by("id")
            # The API's own question: an observer who left their place reads no feedback.
            if access.may_read_feedback(person, f.booking)
        ],
        "feedback_given": [
            {"booking": f.booking_id, "text": f.text, "created_at": f.created_at}
            for f in Feedback.objects.filter(author=person).order_by("id")
        ],
        "events_about_me": [
            {"at": e.at, "action": e.action, "actor": e.actor_id, "code": e.code or None, "note": e.note or None}
            for e in AuditEvent.objects.filter(subject=person).order_by("at", "id")
        ],
        "notifications": [
            {"kind": n.kind, "subject": n.subject, "body": n.body, "created_at": n.created_at, "sent_at": n.sent_at}
            for n in Notification.objects.filter(recipient=person).order_by("id")
        ],
    }
