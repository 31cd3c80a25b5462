"""People, stations and clearances: their writes, and what they mean for bookings already held."""

import hashlib
import secrets
from datetime import date, datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError

from .. import notifications, rules
from ..errors import Forbidden, Invalid, InvalidTransition
from ..models import (
    HELD_STATUSES,
    LIVE_STATUSES,
    Booking,
    BookingStatus,
    CalendarToken,
    Clearance,
    ConsentPreference,
    ConsentSource,
    ConsentState,
    PlaceState,
    Profile,
    Station,
)
from .accounts import revoke_all_api_tokens
from .base import (
    ensure_lead_or_admin,
    is_admin,
    lead_station_ids,
    lock_booking,
    lock_persons,
    move_booking,
    record_event,
    write_transaction,
)
from .bookings import promote_station, promote_waitlist, settle

User = get_user_model()

TOKEN_PREFIX = "rla_"


def create_person(
    *,
    username: str,
    password: str | None = None,
    name: str = "",
    email: str = "",
    staff_number: str | None = None,
    date_of_birth: date | None = None,
    is_requester: bool = False,
    consent_preference: str = ConsentPreference.ASK,
    is_active: bool = True,
    is_staff: bool = False,
) -> User:
    if password:
        check_password_strength(password, User(username=username, email=email or ""))
    try:
        with write_transaction():
            user = User(
                username=username, email=email or "", is_active=is_active, is_staff=is_staff, is_superuser=is_staff
            )
            if password:
                user.set_password(password)
            else:
                user.set_unusable_password()
            user.save()
            # The profile was made with the user (signals.py); fill it in.
            profile = Profile.objects.get(user=user)
            profile.name, profile.staff_number, profile.date_of_birth = name, staff_number or None, date_of_birth
            profile.is_requester, profile.consent_preference = is_requester, consent_preference
            profile.save()
            user.profile = profile
    except IntegrityError as error:
        raise Invalid(
            "That username or staff number is taken.", fields={"username": ["Username or staff number already in use."]}
        ) from error
    return user


def update_person(*, person, now: datetime, actor=None, **changes) -> User:
    user_fields = {"username", "email", "is_active"}
    profile_fields = {"name", "staff_number", "date_of_birth", "is_requester", "consent_preference"}
    preference = changes.pop("consent_preference", None)
    password = changes.pop("password", None)
    if password:
        check_password_strength(password, person)
    try:
        with write_transaction():
            lock_persons([person.pk])
            for key in user_fields & changes.keys():
                setattr(person, key, changes[key])
            if password:
                person.set_password(password)
            person.save()
            profile = person.profile
            for key in profile_fields & changes.keys():
                setattr(profile, key, changes[key] if key != "staff_number" else (changes[key] or None))
            profile.save()
            if changes.get("is_active") is False:
                # A deactivated person loses their calendar link (SPEC §9) and API tokens (§12).
                CalendarToken.objects.filter(person=person).delete()
                revoke_all_api_tokens(person)
            if password:
                revoke_all_api_tokens(person)
    except IntegrityError as error:
        raise Invalid(
            "That username or staff number is taken.",
            fields={"staff_number": ["Username or staff number already in use."]},
        ) from error
    if preference is not None:
        set_consent_preference(person=person, preference=preference, now=now)
    if "date_of_birth" in changes:
        recheck_observer(person=person, now=now, actor=actor)
    return person


def check_password_strength(password: str, person) -> None:
    """Django's four validators, at least 12 characters (SPEC §12)."""
    try:
        validate_password(password, person)
    except DjangoValidationError as error:
        raise Invalid(error.messages[0], fields={"password": list(error.messages)}) from None


def set_consent_preference(*, person, preference: str, now: datetime) -> None:
    """Change how a crew member is asked; `always` also gives the consents still waiting on them."""
    if preference not in ConsentPreference.values:
        raise Invalid("Choose ask, always or never.", fields={"consent_preference": ["Choose ask, always or never."]})
    with write_transaction():
        lock_persons([person.pk])
        profile = Profile.objects.get(pk=person.pk)
        profile.consent_preference = preference
        profile.save(update_fields=["consent_preference"])
        person.profile = profile
    if preference == ConsentPreference.ALWAYS:
        waiting = Booking.objects.filter(
            status__in=LIVE_STATUSES,
            consents__person=person,
            consents__state=ConsentState.PENDING,
            shift__starts_at__gt=now,
        ).values_list("pk", flat=True)
        for booking_id in list(waiting):
            with write_transaction():
                booking = lock_booking(booking_id)
                consent = booking.consents.filter(person=person, state=ConsentState.PENDING).first()
                if consent is None or booking.status not in LIVE_STATUSES:
                    continue
                consent.state, consent.source, consent.at = ConsentState.GIVEN, ConsentSource.PREFERENCE, now
                consent.save(update_fields=["state", "source", "at"])
                record_event(
                    booking=booking,
                    actor=person,
                    action="consent_given",
                    now=now,
                    from_status=booking.status,
                    to_status=booking.status,
                    code="preference",
                    actor_private=True,
                )
                settle(booking, actor=person, now=now, by_crew=True)


def add_clearance(
    *, actor, person, kind: str, valid_from: date, valid_until: date | None = None, reference: str = "", now: datetime
) -> Clearance:
    ensure_may_record_clearances(actor)
    if valid_until is not None and valid_until < valid_from:
        raise Invalid(
            "The clearance ends before it starts.", fields={"valid_until": ["Must be on or after valid_from."]}
        )
    if not kind or len(kind) > 40:
        raise Invalid("Give the kind of clearance.", fields={"kind": ["Give a kind such as dbs."]})
    with write_transaction():
        lock_persons([person.pk])
        clearance = Clearance.objects.create(
            person=person,
            kind=kind,
            valid_from=valid_from,
            valid_until=valid_until,
            reference=reference or "",
            recorded_by=actor,
        )
    return clearance


def remove_clearance(*, actor, clearance: Clearance, now: datetime) -> None:
    """Remove a clearance; held bookings it no longer covers are cancelled (`clearance_lapsed`)."""
    ensure_may_record_clearances(actor)
    person = clearance.person
    with write_transaction():
        lock_persons([person.pk])
        clearance.delete()
    recheck_observer(person=person, now=now, actor=actor)


def update_clearance(*, actor, clearance: Clearance, now: datetime, **changes) -> Clearance:
    ensure_may_record_clearances(actor)
    with write_transaction():
        lock_persons([clearance.person_id])
        for key in {"kind", "valid_from", "valid_until", "reference"} & changes.keys():
            setattr(clearance, key, changes[key])
        if clearance.valid_until is not None and clearance.valid_until < clearance.valid_from:
            raise Invalid(
                "The clearance ends before it starts.", fields={"valid_until": ["Must be on or after valid_from."]}
            )
        clearance.save()
    recheck_observer(person=clearance.person, now=now, actor=actor)
    return clearance


def ensure_may_record_clearances(actor) -> None:
    if not (is_admin(actor) or lead_station_ids(actor)):
        raise Forbidden("Only admins and station leads record clearances.")


def recheck_observer(*, person, now: datetime, actor=None) -> list[Booking]:
    """Cancel the person's held bookings on future shifts that their clearances or age no longer allow."""
    lapsed = []
    booking_ids = list(
        Booking.objects.filter(
            status__in=HELD_STATUSES,
            places__person=person,
            places__state=PlaceState.HELD,
            shift__starts_at__gt=now,
        )
        .values_list("pk", flat=True)
        .distinct()
    )
    for booking_id in booking_ids:
        with write_transaction():
            booking = lock_booking(booking_id)
            if booking.status not in HELD_STATUSES:
                continue
            observer = User.objects.select_related("profile").get(pk=person.pk)
            broken = rules.check_clearances(booking.shift, [observer]) or rules.check_ages(booking.shift, [observer])
            if not broken:
                continue
            move_booking(
                booking,
                to=BookingStatus.CANCELLED,
                actor=actor,
                action="clearance_lapsed",
                now=now,
                code="clearance_lapsed",
                note=broken[0].code,
            )
            notifications.tell_parties(booking, "cancelled", now=now, note=broken[0].detail)
            promote_waitlist(booking.shift, now=now)
            lapsed.append(booking)
    return lapsed


def suspend_station(
    *, station_id: int, actor, until: datetime, reason: str, cancel_bookings: bool, now: datetime
) -> Station:
    """Stop observations until `until`; optionally cancel what is booked before then."""
    if until is None or getattr(until, "tzinfo", None) is None:
        raise Invalid("Give the end of the suspension with an offset.", fields={"until": ["Give an aware datetime."]})
    if not isinstance(reason, str) or not reason.strip():
        raise Invalid("Give a reason for the suspension.", fields={"reason": ["Give a reason."]})
    ensure_lead_or_admin(actor, station_id)
    with write_transaction():
        station = Station.objects.select_for_update().get(pk=station_id)
        station.suspended_until = until
        station.suspension_reason = reason.strip()
        station.save(update_fields=["suspended_until", "suspension_reason"])
        record_event(
            booking=None,
            station=station,
            actor=actor,
            action="station_suspended",
            now=now,
            code="station_suspended",
            note=reason.strip(),
        )
    if cancel_bookings:
        booking_ids = list(
            Booking.objects.filter(
                shift__station_id=station_id,
                status__in=LIVE_STATUSES,
                shift__starts_at__lt=until,
                shift__starts_at__gt=now,
            ).values_list("pk", flat=True)
        )
        for booking_id in booking_ids:
            with write_transaction():
                booking = lock_booking(booking_id)
                if booking.status not in LIVE_STATUSES:
                    continue
                move_booking(
                    booking,
                    to=BookingStatus.CANCELLED,
                    actor=actor,
                    action="station_suspended",
                    now=now,
                    code="station_suspended",
                    note=reason.strip(),
                )
                notifications.tell_parties(booking, "cancelled", now=now, note=reason.strip())
    return station


def lift_suspension(*, station_id: int, actor, now: datetime) -> Station:
    ensure_lead_or_admin(actor, station_id)
    with write_transaction():
        station = Station.objects.select_for_update().get(pk=station_id)
        if station.suspended_until is None:
            raise InvalidTransition("This station is not suspended.")
        station.suspended_until = None
        station.suspension_reason = ""
        station.save(update_fields=["suspended_until", "suspension_reason"])
        record_event(booking=None, station=station, actor=actor, action="suspension_lifted", now=now)
        promote_station(station, now=now)
    return station


def issue_calendar_token(*, person, now: datetime) -> str:
    """Create or rotate the person's feed token; the old one stops working at once."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with write_transaction():
        lock_persons([person.pk])
        CalendarToken.objects.update_or_create(
            person=person, defaults={"digest": token_digest(token), "created_at": now}
        )
    return token


def revoke_calendar_token(*, person) -> bool:
    with write_transaction():
        deleted, _ = CalendarToken.objects.filter(person=person).delete()
    return bool(deleted)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
