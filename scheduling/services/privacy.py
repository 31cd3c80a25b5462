"""Data protection (SPEC §13): erasing a leaver and forgetting free text past its retention period."""

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q

from ..errors import Forbidden, InvalidTransition, NotFound
from ..feed import forget_remembered_feeds
from ..models import (
    LIVE_STATUSES,
    ApiToken,
    AuditEvent,
    Booking,
    CalendarToken,
    Clearance,
    Consent,
    CrewMember,
    Feedback,
    FollowUp,
    PlaceState,
    Profile,
    Reflection,
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
        raise Forbidden("Only admins erase people.")
    with write_transaction():
        lock_persons([person_id])
        person = User.objects.filter(pk=person_id).select_related("profile").first()
        if person is None:
            raise NotFound("No person with that id.")
        if actor is not None and actor.pk == person.pk:
            raise Forbidden("Ask another admin to erase your own account.")
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
        record_event(booking=None, subject=person, actor=actor, action="person_erased", now=now)
    return person


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
