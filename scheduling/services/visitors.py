"""Visitors from outside the trust, invited by e-mail (SPEC §19)."""

import re
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils.translation import gettext as _

from .. import access, notifications
from ..errors import Forbidden, Invalid, RuleViolation
from ..languages import writing_to
from ..models import Booking, Invitation, Place, Profile
from ..text import ensure_single_line
from .base import lock_persons, record_event, write_transaction
from .people import check_password_strength, create_person
from .privacy import erase_person

User = get_user_model()

SALT = "ridealong.invitation"
VALID_FOR = timedelta(days=14)
FORGET_AFTER = timedelta(days=30)


def link_for(invitation: Invitation) -> str:
    token = signing.dumps({"i": invitation.pk, "n": invitation.nonce}, salt=SALT, compress=True)
    return settings.SITE_URL + reverse("web:invitation", args=[token])


def _username_for(email: str) -> str:
    base = re.sub(r"[^\w.@+-]", "", email.split("@")[0])[:120] or "visitor"
    name, n = base, 1
    while User.objects.filter(username__iexact=name).exists():
        n += 1
        name = f"{base}{n}"
    return name


def invite(*, actor, name: str, email: str, now: datetime) -> Invitation:
    """Make a visitor (no password, no roles, no staff number) and e-mail them a link to set a password.

    Inviting someone already invited and not yet in makes a new link and voids the old one; an active
    person who already has that address is refused (`already_a_person`), naming nobody.
    """
    if not access.may_invite(actor):
        raise Forbidden(_("Only requesters, station leads and admins invite visitors."))
    name, email = (name or "").strip(), (email or "").strip().lower()
    fields = {}
    if not name:
        fields["name"] = [_("Enter the visitor's full name")]
    try:
        validate_email(email)
    except ValidationError:
        fields["email"] = [_("Enter an e-mail address in the right format, like name@example.com")]
    if fields:
        raise Invalid(_("Some of the invitation is not valid."), fields=fields)
    ensure_single_line(name=name)
    with write_transaction():
        # One transaction: the visitor, their invitation, its event and its e-mail, or none of them.
        existing = User.objects.filter(email__iexact=email, is_active=True).select_related("profile").first()
        if existing is not None and not (existing.profile.is_visitor and not existing.has_usable_password()):
            raise RuleViolation(
                _("Someone with that e-mail address already has a Ridealong account."), code="already_a_person"
            )
        if existing is None:
            person = create_person(username=_username_for(email), name=name, email=email, now=now)
            Profile.objects.filter(pk=person.pk).update(is_visitor=True)
            person.profile.is_visitor = True
        else:
            person = existing
        # A new link voids every earlier one.
        Invitation.objects.filter(person=person, accepted_at=None, voided_at=None).update(voided_at=now)
        invitation = Invitation.objects.create(
            person=person,
            invited_by=actor,
            email=email,
            nonce=secrets.token_urlsafe(24),
            created_at=now,
            expires_at=now + VALID_FOR,
        )
        record_event(booking=None, subject=person, actor=actor, action="invited", now=now)
        with writing_to(person):
            notifications.queue_note(
                person,
                "invitation",
                subject=_("You are invited to Ridealong"),
                headline=_("%(who)s has invited you to observe a frontline crew with Ridealong.")
                % {"who": notifications.display_name(actor)},
                lines=[
                    _("Open the link to set a password; it works once, for 14 days."),
                    _("Then read and sign your paperwork (a confidentiality agreement and a safety briefing)."),
                ],
                links=[(_("Accept the invitation"), link_for(invitation))],
                now=now,
                dedupe=f"invitation:{invitation.pk}",
            )
    return invitation


def read(token: str, *, now: datetime) -> tuple[Invitation | None, str]:
    """The invitation a link holds and "ok", or None and why not: altered, used, superseded or expired."""
    try:
        payload = signing.loads(token, salt=SALT)
        invitation = Invitation.objects.select_related("person__profile").filter(pk=int(payload["i"])).first()
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None, "altered"
    if invitation is None or not secrets.compare_digest(str(payload.get("n", "")), invitation.nonce):
        return None, "altered"
    if invitation.accepted_at is not None:
        return None, "used"
    if invitation.voided_at is not None:
        return None, "superseded"
    if now >= invitation.expires_at:
        return None, "expired"
    return invitation, "ok"


def accept(*, token: str, password: str, now: datetime):
    """Set the visitor's password through the validators; the link is used up. Returns the person."""
    invitation, why = read(token, now=now)
    if invitation is None:
        raise Invalid(_("This invitation link cannot be used."), fields={"token": [why]})
    person = invitation.person
    check_password_strength(password, person)
    with write_transaction():
        lock_persons([person.pk])
        # Used once: a second POST racing this one finds it taken.
        taken = Invitation.objects.filter(pk=invitation.pk, accepted_at=None, voided_at=None).update(accepted_at=now)
        if not taken:
            raise Invalid(_("This invitation link cannot be used."), fields={"token": ["used"]})
        person.set_password(password)
        person.save(update_fields=["password"])
        record_event(booking=None, subject=person, actor=person, action="invitation_accepted", now=now)
    return person


def invitations_sent_by(person):
    qs = Invitation.objects.select_related("person__profile")
    return qs if access.is_admin(person) else qs.filter(invited_by=person)


def forget_unaccepted(*, now: datetime) -> int:
    """Erase (SPEC §13) visitors who never accepted, 30 days after their last invitation, unless named in a
    booking."""
    observing = Place.objects.filter(person=OuterRef("pk"))
    requesting = Booking.objects.filter(requested_by=OuterRef("pk"))
    stale = (
        User.objects.filter(profile__is_visitor=True, is_active=True, invitations__isnull=False)
        .exclude(invitations__accepted_at__isnull=False)
        .exclude(invitations__created_at__gt=now - FORGET_AFTER)
        .exclude(Exists(observing))
        .exclude(Exists(requesting))
        .distinct()
    )
    erased = 0
    for person in list(stale):
        erase_person(person_id=person.pk, actor=None, now=now)
        erased += 1
    return erased
