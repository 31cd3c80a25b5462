"""Data protection (SPEC §13): erasing a leaver and forgetting free text past its retention period."""

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils.translation import gettext

from ..errors import Forbidden, InvalidTransition, NotFound
from ..feed import forget_remembered_feeds
from ..models import (
    FINAL_STATUSES,
    LIVE_STATUSES,
    ApiToken,
    AuditEvent,
    Booking,
    CalendarToken,
    Clearance,
    Consent,
    CrewMember,
    Feedback,
    FeedState,
    FollowUp,
    Notification,
    PlaceState,
    Profile,
    Reflection,
    Station,
)
from .base import is_admin, lock_persons, record_event, write_transaction

User = get_user_model()

ERASED_NAME = "Former member of staff"


def live_bookings_of(person, now: datetime) -> list[int]:
    """Bookings that still need the person: live ones, not yet over, they requested, hold a place on or host."""
    return list(
        Booking.objects.filter(status__in=LIVE_STATUSES, shift__ends_at__gt=now)
        .filter(
            Q(requested_by=person)
            | Q(places__person=person, places__state__in=[PlaceState.HELD, PlaceState.WAITLISTED])
            | Q(shift__crew_members__person=person, shift__crew_members__active=True)
        )
        .values_list("pk", flat=True)
        .distinct()
    )


def erase_person(*, person_id: int, actor, now: datetime) -> User:
    """Anonymise a person without live bookings; ids stay, so counts and history stay whole.

    The person can no longer sign in; their name reads "Former member of staff" wherever it showed.
    """
    if actor is not None and not is_admin(actor):
        raise Forbidden(gettext("Only admins erase people."))
    with write_transaction():
        lock_persons([person_id])
        person = User.objects.filter(pk=person_id).select_related("profile").first()
        if person is None:
            raise NotFound(gettext("No person with that id."))
        if actor is not None and actor.pk == person.pk:
            raise Forbidden(gettext("Ask another admin to erase your own account."))
        live = live_bookings_of(person, now)
        if live:
            raise InvalidTransition(
                f"This person still has {len(live)} live booking(s) (for example booking {live[0]}); "
                "cancel or finish them first."
            )
        upcoming = CrewMember.objects.filter(person=person, active=True, ends_at__gt=now).count()
        if upcoming:
            raise InvalidTransition(
                f"This person is rostered on {upcoming} shift(s) still to come; take them off the rota first."
            )
        former_names = {n for n in (person.profile.name, person.username, person.email) if n and len(n) > 2}
        person.username = f"erased-{person.pk}"
        person.email = ""
        person.first_name = person.last_name = ""
        person.is_active = False
        person.is_staff = person.is_superuser = False
        person.set_unusable_password()
        person.save()
        Profile.objects.filter(pk=person.pk).update(
            name=ERASED_NAME, staff_number=None, date_of_birth=None, is_requester=False
        )
        Clearance.objects.filter(person=person).delete()
        ApiToken.objects.filter(person=person).delete()
        CalendarToken.objects.filter(person=person).delete()
        person.groups.clear()
        person.user_permissions.clear()
        _erase_traces(person, former_names)
        record_event(booking=None, subject=person, actor=actor, action="person_erased", now=now)
    return person


def _erase_traces(person, former_names: set[str]) -> None:
    """What else holds the person's data: their words, their name in e-mails, their remembered feed,
    their place among a station's leads (README: what erasure keeps and why)."""
    # Free text they wrote: cancellation reasons, consent notes, reflections, feedback, audit notes.
    own_events = AuditEvent.objects.filter(Q(actor=person) | Q(subject=person)).exclude(note="")
    ended_by_them = Booking.objects.filter(events__actor=person, events__to_status__in=[*FINAL_STATUSES]).values("pk")
    Booking.objects.filter(pk__in=ended_by_them).exclude(status_note="").update(status_note="")
    own_events.forget_notes()
    Consent.objects.filter(person=person).exclude(note="").update(note="")
    Reflection.objects.filter(author=person).update(text="")
    Feedback.objects.filter(author=person).update(text="")
    # E-mails to them go; e-mails naming them (to leads, crew, other observers) keep their ids but not the name.
    Notification.objects.filter(recipient=person).delete()
    mentions = Q()
    for name in former_names:
        mentions |= Q(subject__contains=name) | Q(body__contains=name) | Q(html__contains=name)
    if former_names:
        named = Q()
        for name in former_names:
            named |= Q(note__contains=name)
        AuditEvent.objects.filter(named).exclude(note="").forget_notes()
        for note in Notification.objects.filter(mentions):
            for name in sorted(former_names, key=len, reverse=True):
                note.subject = note.subject.replace(name, ERASED_NAME)
                note.body = note.body.replace(name, ERASED_NAME)
                note.html = note.html.replace(name, ERASED_NAME)
            note.save(update_fields=["subject", "body", "html"])
    FeedState.objects.filter(person_id=person.pk).delete()
    # Serialised events may hold an observer's name; remembered answers are worked out again.
    forget_remembered_feeds()
    for station in Station.objects.filter(leads=person):
        station.leads.remove(person)


def forget_old_text(*, now: datetime) -> int:
    """Blank purposes, notes, reflections, actions and feedback of bookings whose shift ended more than
    RIDEALONG_RETENTION_DAYS ago; states, outcomes and times stay. Safe to repeat."""
    cutoff = now - timedelta(days=settings.RIDEALONG_RETENTION_DAYS)
    old = Booking.objects.filter(shift__ends_at__lt=cutoff)
    with write_transaction():
        changed = old.exclude(purpose="", status_note="").update(purpose="", status_note="")
        Consent.objects.filter(booking__in=old).exclude(note="").update(note="")
        Reflection.objects.filter(booking__in=old).exclude(text="").update(text="")
        FollowUp.objects.filter(booking__in=old).exclude(text="").update(text="")
        Feedback.objects.filter(booking__in=old).exclude(text="").update(text="")
        AuditEvent.objects.filter(booking__in=old).exclude(note="").forget_notes()
        if changed:
            forget_remembered_feeds()  # no serialised copy of the blanked text may stay
    return changed
