"""People, stations and clearances: their writes, and what they mean for bookings already held."""

import hashlib
import secrets
from datetime import date, datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.utils import timezone
from django.utils.translation import gettext

from .. import languages, rules
from ..errors import ConflictOfInterest, Forbidden, Invalid, InvalidTransition, NotFound
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
    FeedState,
    PlaceState,
    Profile,
    Station,
)
from ..text import ensure_single_line
from .accounts import revoke_all_api_tokens
from .base import (
    change_with_bookings,
    ensure_lead_or_admin,
    is_admin,
    lead_station_ids,
    lock_persons,
    record_event,
    write_transaction,
)
from .bookings import consent_given, end_booking, promote_station

User = get_user_model()

TOKEN_PREFIX = "rla_"


def create_person(
    *,
    actor=None,
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
    now: datetime | None = None,
) -> User:
    """Add a person; `actor` None is the system (the demo seed, single sign-on's first visit)."""
    if actor is not None and not is_admin(actor):
        raise Forbidden(gettext("Only admins add people."))
    ensure_single_line(username=username, name=name, staff_number=staff_number)
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
            record_event(booking=None, subject=user, actor=actor, action="person_added", now=now or timezone.now())
    except IntegrityError as error:
        raise Invalid(
            gettext("That username or staff number is taken."),
            fields={"username": [gettext("Username or staff number already in use.")]},
        ) from error
    return user


def update_person(*, person, now: datetime, actor=None, **changes) -> User:
    """Change a profile; a new date of birth re-checks held bookings, a new preference applies at once.

    Everything it sets off commits with it (SPEC §5.3, one transaction). `actor` None is the system.
    """
    if actor is not None and not is_admin(actor):
        raise Forbidden(gettext("Only admins change people's profiles."))
    user_fields = {"username", "email", "is_active"}
    profile_fields = {"name", "staff_number", "date_of_birth", "is_requester"}
    preference = changes.pop("consent_preference", None)
    if preference is not None:
        _check_preference(preference)
    password = changes.pop("password", None)
    ensure_single_line(**{k: v for k, v in changes.items() if k in ("username", "name", "staff_number")})
    if password:
        check_password_strength(password, person)
    recheck = "date_of_birth" in changes

    def find() -> set[int]:
        ids = set(_held_future(person, now)) if recheck else set()
        if preference == ConsentPreference.ALWAYS:
            ids |= set(_awaiting_consent(person, now))
        return ids

    def apply(bookings: list[Booking]) -> None:
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
        if preference is not None:
            _apply_preference(person, preference, bookings, now)
        if recheck:
            _cancel_lapsed(person, bookings, actor=actor, now=now)
        changed = sorted(
            {*changes, *(["consent_preference"] if preference else []), *(["password"] if password else [])}
        )
        # What changed is named, never the values: a date of birth or password stays out of the history.
        record_event(
            booking=None, subject=person, actor=actor, action="person_changed", now=now, note=", ".join(changed)
        )

    try:
        change_with_bookings(find, apply, extra_person_ids=[person.pk])
    except IntegrityError as error:
        raise Invalid(
            gettext("That username or staff number is taken."),
            fields={"staff_number": [gettext("Username or staff number already in use.")]},
        ) from error
    return person


def bind_organisation_account(*, person, issuer: str, subject: str, now: datetime | None = None) -> None:
    """Bind a person to their provider account (SPEC §12): from now on that (issuer, sub) is how they match."""
    with write_transaction():
        updated = Profile.objects.filter(pk=person.pk, oidc_subject__isnull=True).update(
            oidc_issuer=issuer, oidc_subject=subject
        )
        if updated:
            record_event(
                booking=None,
                subject=person,
                actor=None,
                action="organisation_account_linked",
                now=now or timezone.now(),
            )
    person.profile.oidc_issuer, person.profile.oidc_subject = issuer, subject


def check_password_strength(password: str, person) -> None:
    """Django's four validators, at least 12 characters (SPEC §12)."""
    try:
        validate_password(password, person)
    except DjangoValidationError as error:
        raise Invalid(error.messages[0], fields={"password": list(error.messages)}) from None


def set_reminders(*, person, on: bool) -> None:
    """Turn reminder e-mails on or off; e-mails asking for a decision or reporting a change always come."""
    with write_transaction():
        Profile.objects.filter(pk=person.pk).update(reminders=bool(on))
    person.profile.reminders = bool(on)


def set_language(*, person, language: str, now: datetime) -> None:
    """The language pages, e-mails and the feed are written in for this person (SPEC §20), with an audit
    event on the person giving the old and the new language."""
    if not languages.supported(language):
        words = gettext("Choose %(choices)s.") % {"choices": " / ".join(name for _, name in settings.LANGUAGES)}
        raise Invalid(words, fields={"language": [words]})
    if person.profile.language == language:
        return
    before = person.profile.language
    with write_transaction():
        Profile.objects.filter(pk=person.pk).update(language=language)
        record_event(
            booking=None,
            subject=person,
            actor=person,
            action="language_changed",
            now=now,
            note=f"{before or '-'} -> {language}",
        )
        # Their calendar feed is written in their language: the answer remembered for it no longer holds.
        FeedState.objects.filter(person_id=person.pk).delete()
    person.profile.language = language


def _check_preference(preference) -> None:
    if preference not in ConsentPreference.values:
        raise Invalid(
            gettext("Choose ask, always or never."),
            fields={"consent_preference": [gettext("Choose ask, always or never.")]},
        )


def set_consent_preference(*, person, preference: str, now: datetime) -> None:
    """Change how a crew member is asked; `always` also gives the consents still waiting on them."""
    _check_preference(preference)

    def apply(bookings: list[Booking]) -> None:
        _apply_preference(person, preference, bookings, now)
        # In the person's own history, not the bookings': standing consents are given silently (SPEC §13).
        record_event(
            booking=None, subject=person, actor=person, action="consent_preference_changed", now=now, note=preference
        )

    change_with_bookings(
        lambda: _awaiting_consent(person, now) if preference == ConsentPreference.ALWAYS else [],
        apply,
        extra_person_ids=[person.pk],
    )


def _awaiting_consent(person, now: datetime):
    return Booking.objects.filter(
        status__in=LIVE_STATUSES,
        consents__person=person,
        consents__state=ConsentState.PENDING,
        shift__starts_at__gt=now,
    ).values_list("pk", flat=True)


def _apply_preference(person, preference: str, bookings: list[Booking], now: datetime) -> None:
    """Under the locks of `change_with_bookings`: store it and, for `always`, give the waiting consents."""
    profile = Profile.objects.get(pk=person.pk)
    profile.consent_preference = preference
    profile.save(update_fields=["consent_preference"])
    person.profile = profile
    if preference != ConsentPreference.ALWAYS:
        return
    for booking in bookings:
        consent = booking.consents.filter(person=person, state=ConsentState.PENDING).first()
        if consent is None or booking.status not in LIVE_STATUSES or booking.shift.starts_at <= now:
            continue
        consent_given(booking, consent, person, now=now, source=ConsentSource.PREFERENCE)


def _clearance_note(clearance: Clearance) -> str:
    until = clearance.valid_until.isoformat() if clearance.valid_until else "no expiry"
    reference = f", reference {clearance.reference}" if clearance.reference else ""
    return f"{clearance.kind}: {clearance.valid_from.isoformat()} to {until}{reference}"


def add_clearance(
    *, actor, person, kind: str, valid_from: date, valid_until: date | None = None, reference: str = "", now: datetime
) -> Clearance:
    ensure_may_record_clearances(actor, person.pk)
    if valid_until is not None and valid_until < valid_from:
        raise Invalid(
            gettext("The clearance ends before it starts."),
            fields={"valid_until": [gettext("Must be on or after valid_from.")]},
        )
    if not kind or len(kind) > 40:
        raise Invalid(gettext("Give the kind of clearance."), fields={"kind": [gettext("Give a kind such as dbs.")]})
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
        record_event(
            booking=None,
            subject=person,
            actor=actor,
            action="clearance_recorded",
            now=now,
            code=kind,
            note=_clearance_note(clearance),
        )
    return clearance


def remove_clearance(*, actor, clearance: Clearance, now: datetime) -> None:
    """Remove a clearance; held bookings it no longer covers are cancelled (`clearance_lapsed`), together."""
    ensure_may_record_clearances(actor, clearance.person_id)
    person = clearance.person

    def apply(bookings: list[Booking]) -> None:
        note = _clearance_note(clearance)
        clearance.delete()
        record_event(
            booking=None,
            subject=person,
            actor=actor,
            action="clearance_removed",
            now=now,
            code=clearance.kind,
            note=note,
        )
        _cancel_lapsed(person, bookings, actor=actor, now=now)

    change_with_bookings(lambda: _held_future(person, now), apply, extra_person_ids=[person.pk])


def update_clearance(*, actor, clearance: Clearance, now: datetime, **changes) -> Clearance:
    ensure_may_record_clearances(actor, clearance.person_id)
    person = clearance.person

    def apply(bookings: list[Booking]) -> Clearance:
        for key in {"kind", "valid_from", "valid_until", "reference"} & changes.keys():
            setattr(clearance, key, changes[key])
        if clearance.valid_until is not None and clearance.valid_until < clearance.valid_from:
            raise Invalid(
                gettext("The clearance ends before it starts."),
                fields={"valid_until": [gettext("Must be on or after valid_from.")]},
            )
        clearance.save()
        record_event(
            booking=None,
            subject=person,
            actor=actor,
            action="clearance_changed",
            now=now,
            code=clearance.kind,
            note=_clearance_note(clearance),
        )
        _cancel_lapsed(person, bookings, actor=actor, now=now)
        return clearance

    return change_with_bookings(lambda: _held_future(person, now), apply, extra_person_ids=[person.pk])


def ensure_may_record_clearances(actor, person_id: int) -> None:
    if not (is_admin(actor) or lead_station_ids(actor)):
        raise Forbidden(gettext("Only admins and station leads record clearances."))
    if actor.pk == person_id:
        raise ConflictOfInterest(gettext("You cannot record, change or remove your own clearances; ask another lead."))


def _held_future(person, now: datetime):
    return (
        Booking.objects.filter(
            status__in=HELD_STATUSES,
            places__person=person,
            places__state=PlaceState.HELD,
            shift__starts_at__gt=now,
        )
        .values_list("pk", flat=True)
        .distinct()
    )


def recheck_observer(*, person, now: datetime, actor=None) -> list[Booking]:
    """Cancel the person's held bookings on future shifts that their clearances or age no longer allow."""
    return change_with_bookings(
        lambda: _held_future(person, now),
        lambda bookings: _cancel_lapsed(person, bookings, actor=actor, now=now),
        extra_person_ids=[person.pk],
    )


def _cancel_lapsed(person, bookings: list[Booking], *, actor, now: datetime) -> list[Booking]:
    """Under the locks of `change_with_bookings`: cancel what the person's clearances or age no longer allow."""
    observer = User.objects.select_related("profile").get(pk=person.pk)
    ending = []
    for booking in bookings:
        if booking.status not in HELD_STATUSES or booking.shift.starts_at <= now:
            continue
        if not booking.places.filter(person=person, state=PlaceState.HELD).exists():
            continue
        broken = rules.check_clearances(booking.shift, [observer]) or rules.check_ages(booking.shift, [observer])
        if broken:
            ending.append((booking, broken))
    if actor is not None and not is_admin(actor):
        # A lead records anyone's clearances, but ends ride-alongs only at the stations they lead.
        elsewhere = [b for b, _ in ending if b.shift.station_id not in lead_station_ids(actor)]
        if elsewhere:
            raise Forbidden(
                gettext(
                    "This would cancel ride-alongs at stations you do not lead. Ask an admin, or a lead of "
                    "those stations."
                )
            )
    lapsed = []
    for booking, broken in ending:
        end_booking(
            booking,
            to=BookingStatus.CANCELLED,
            actor=actor,
            action="clearance_lapsed",
            code="clearance_lapsed",
            note=broken[0].code,
            now=now,
            told_note=broken[0].detail,
        )
        lapsed.append(booking)
    return lapsed


def suspend_station(
    *, station_id: int, actor, until: datetime, reason: str, cancel_bookings: bool, now: datetime
) -> Station:
    """Stop observations until `until`; optionally cancel what is booked before then, in the same transaction."""
    if until is None or getattr(until, "tzinfo", None) is None:
        raise Invalid(
            gettext("Give the end of the suspension with an offset."),
            fields={"until": [gettext("Give an aware datetime.")]},
        )
    if not isinstance(reason, str) or not reason.strip():
        raise Invalid(gettext("Give a reason for the suspension."), fields={"reason": [gettext("Give a reason.")]})
    ensure_lead_or_admin(actor, station_id)
    reason = reason.strip()

    def find():
        if not cancel_bookings:
            return []
        return Booking.objects.filter(
            shift__station_id=station_id,
            status__in=LIVE_STATUSES,
            shift__starts_at__lt=until,
            shift__starts_at__gt=now,
        ).values_list("pk", flat=True)

    def apply(bookings: list[Booking]) -> Station:
        station = Station.objects.get(pk=station_id)
        station.suspended_until = until
        station.suspension_reason = reason
        station.save(update_fields=["suspended_until", "suspension_reason"])
        record_event(
            booking=None,
            station=station,
            actor=actor,
            action="station_suspended",
            now=now,
            code="station_suspended",
            note=reason,
        )
        for booking in bookings:
            if booking.status not in LIVE_STATUSES:
                continue
            end_booking(
                booking,
                to=BookingStatus.CANCELLED,
                actor=actor,
                action="station_suspended",
                code="station_suspended",
                note=reason,
                now=now,
            )
        return station

    if not Station.objects.filter(pk=station_id).exists():
        raise NotFound(gettext("No station with that id."))
    return change_with_bookings(find, apply, extra_station_ids=[station_id])


def lift_suspension(*, station_id: int, actor, now: datetime) -> Station:
    ensure_lead_or_admin(actor, station_id)
    with write_transaction():
        station = Station.objects.select_for_update().get(pk=station_id)
        if station.suspended_until is None:
            raise InvalidTransition(gettext("This station is not suspended."))
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
