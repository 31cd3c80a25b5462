"""One-tap answers from an e-mail (SPEC §8): signed links bound to one person, one booking, one answer.

Opening a link changes nothing; only the confirmation page's POST acts, through the same services as
the API. A link works once, until the shift starts, and not after the answer was given another way.
Django's signing framework makes and checks the signature; the nonce makes each link single-use.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.db import IntegrityError, transaction
from django.urls import reverse

from . import access, services
from .models import AnswerLinkUse, Booking, BookingStatus, ConsentState

User = get_user_model()

SALT = "ridealong.answer-link.v1"
MAX_AGE = timedelta(days=90)
CREW_ANSWERS = {"give", "decline"}
LEAD_ANSWERS = {"approve", "decline"}


class BadLink(Exception):
    """Why a link cannot be used: `altered`, `expired`, `used` or `superseded`."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Answer:
    person: object
    booking: Booking
    role: str  # "crew" or "lead"
    answer: str
    nonce: str


def link_for(*, person, booking: Booking, role: str, answer: str) -> str:
    payload = {"p": person.pk, "b": booking.pk, "r": role, "a": answer, "n": secrets.token_hex(12)}
    token = signing.dumps(payload, salt=SALT, compress=True)
    return settings.SITE_URL + reverse("web:answer", args=[token])


def read(token: str, *, now: datetime) -> Answer:
    """The link's answer if it may still be given; otherwise BadLink with the reason."""
    try:
        payload = signing.loads(token, salt=SALT, max_age=MAX_AGE)
    except signing.SignatureExpired:
        raise BadLink("expired") from None
    except signing.BadSignature:
        raise BadLink("altered") from None
    try:
        person_id, booking_id, role, answer, nonce = (payload[k] for k in ("p", "b", "r", "a", "n"))
    except (KeyError, TypeError):
        raise BadLink("altered") from None
    if (role, answer) not in {("crew", a) for a in CREW_ANSWERS} | {("lead", a) for a in LEAD_ANSWERS}:
        raise BadLink("altered")
    person = User.objects.filter(pk=person_id, is_active=True).select_related("profile").first()
    booking = Booking.objects.filter(pk=booking_id).select_related("shift__station", "shift__resource").first()
    if person is None or booking is None:
        raise BadLink("altered")
    if AnswerLinkUse.objects.filter(nonce=nonce).exists():
        raise BadLink("used")
    if now >= booking.shift.starts_at:
        raise BadLink("expired")
    if _answered(person, booking, role):
        raise BadLink("superseded")
    return Answer(person=person, booking=booking, role=role, answer=answer, nonce=nonce)


def _answered(person, booking: Booking, role: str) -> bool:
    if booking.status not in (BookingStatus.PENDING, BookingStatus.WAITLISTED):
        return True
    if role == "crew":
        return not booking.consents.filter(person=person, state=ConsentState.PENDING).exists()
    return booking.lead_approved or not access.may_decide(person, booking)


def act(token: str, *, text: str = "", now: datetime) -> Answer:
    """Give the link's answer once; the use is recorded in the same transaction as the answer."""
    found = read(token, now=now)
    try:
        with transaction.atomic():
            AnswerLinkUse.objects.create(
                nonce=found.nonce, person=found.person, booking=found.booking, answer=found.answer, used_at=now
            )
            _give(found, text=text, now=now)
    except IntegrityError:
        raise BadLink("used") from None
    return found


def _give(found: Answer, *, text: str, now: datetime) -> None:
    booking_id, person = found.booking.pk, found.person
    if found.role == "crew" and found.answer == "give":
        services.give_consent(booking_id=booking_id, actor=person, note=text, now=now)
    elif found.role == "crew":
        services.decline_consent(booking_id=booking_id, actor=person, note=text, now=now)
    elif found.answer == "approve":
        services.approve_booking(booking_id=booking_id, actor=person, now=now)
    else:
        services.decline_booking(booking_id=booking_id, actor=person, reason=text, now=now)


__all__ = ["Answer", "BadLink", "act", "link_for", "read"]
