"""API tokens and sign-in lockouts (SPEC §12)."""

import hashlib
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils.translation import gettext

from ..errors import Invalid, NotFound, RuleViolation
from ..models import ApiToken, SignInFailure
from .base import lock_persons, write_transaction

API_TOKEN_PREFIX = "rlt_"
MAX_TOKEN_NAME = 100
# last_used_at is written at most this often, so a busy client costs no write per request.
LAST_USED_GRAIN = timedelta(minutes=1)
LOCKOUT_WINDOW = timedelta(minutes=15)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def password_stamp(person) -> str:
    """Changes whenever the person's password does, by whatever path."""
    return digest(f"{person.pk}:{person.password}")


def issue_api_token(*, person, name: str = "", now: datetime) -> tuple[ApiToken, str]:
    """Make a token; the secret is returned once and only its digest is kept."""
    name = (name or "").strip() or "API token"
    if len(name) > MAX_TOKEN_NAME or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise Invalid(
            gettext("Give the token a short name."),
            fields={"name": [gettext("Use at most %(n)s printable characters.") % {"n": MAX_TOKEN_NAME}]},
        )
    secret = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    with write_transaction():
        # Under the person's lock, so two requests at once cannot both make the last one allowed.
        lock_persons([person.pk])
        if tokens_of(person, now=now).count() >= settings.RIDEALONG_MAX_API_TOKENS:
            raise RuleViolation(
                gettext("You have %(n)s API tokens already. Revoke one you no longer use, then make another.")
                % {"n": settings.RIDEALONG_MAX_API_TOKENS},
                code="too_many_tokens",
            )
        token = ApiToken.objects.create(
            person=person,
            name=name,
            digest=digest(secret),
            password_stamp=password_stamp(person),
            created_at=now,
            expires_at=now + timedelta(days=settings.RIDEALONG_API_TOKEN_DAYS),
        )
    return token, secret


def tokens_of(person, *, now: datetime):
    """The person's live tokens, newest first (the secret is never among what is kept)."""
    return ApiToken.objects.filter(person=person, expires_at__gt=now, password_stamp=password_stamp(person))


def revoke_api_token(*, person, token_id: int) -> None:
    with write_transaction():
        deleted, _ = ApiToken.objects.filter(person=person, pk=token_id).delete()
    if not deleted:
        raise NotFound(gettext("You have no API token with that id."))


def revoke_all_api_tokens(person) -> None:
    ApiToken.objects.filter(person=person).delete()


def person_for_api_token(secret: str, *, now: datetime):
    """The active person a live token belongs to, or None (unknown, expired, revoked, stale password)."""
    if not secret.startswith(API_TOKEN_PREFIX) or len(secret) > 100:
        return None
    token = ApiToken.objects.select_related("person__profile").filter(digest=digest(secret)).first()
    if token is None or token.expires_at <= now:
        return None
    person = token.person
    if not person.is_active or token.password_stamp != password_stamp(person):
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_GRAIN:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return person


def sign_in_locked_until(*, username: str, address: str, now: datetime) -> datetime | None:
    """When a lockout of this username or address ends, or None when neither is locked.

    Five failures for one username, or twenty from one address, within 15 minutes lock it for 15
    minutes from the failure that reached the limit.
    """
    since = now - LOCKOUT_WINDOW
    recent = SignInFailure.objects.filter(at__gt=since)
    ends = []
    for field, value, limit in (
        ("username", username.lower(), settings.RIDEALONG_SIGNIN_USERNAME_LIMIT),
        ("address", address, settings.RIDEALONG_SIGNIN_ADDRESS_LIMIT),
    ):
        if not value:
            continue
        times = list(recent.filter(**{field: value}).order_by("-at").values_list("at", flat=True)[:limit])
        if len(times) >= limit:
            ends.append(times[limit - 1] + LOCKOUT_WINDOW)
    return max(ends) if ends else None


def begin_sign_in(*, username: str, address: str, now: datetime) -> tuple[int | None, datetime | None]:
    """Count this attempt before its password is checked: (the attempt's id, None), or (None, lockout end).

    The attempt is written as a failure at once and cleared if the password is right, so guesses sent in
    parallel cannot all pass the check before any is counted. The count and the write are one step,
    serialised per username and per address (advisory locks on PostgreSQL, BEGIN IMMEDIATE on SQLite).
    """
    username, address = username.lower()[:150], address[:64]
    with write_transaction():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                # Sorted, so two attempts never wait on each other's second lock.
                for key in sorted({f"signin-user:{username}", f"signin-address:{address}"}):
                    cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [key])
        until = sign_in_locked_until(username=username, address=address, now=now)
        if until is not None:
            return None, until
        attempt = SignInFailure.objects.create(username=username, address=address, at=now)
    return attempt.pk, None


def forget_sign_in_attempt(attempt_id: int) -> None:
    """A right password refused for another reason (PASSWORD_SIGN_IN) is not a failed guess."""
    SignInFailure.objects.filter(pk=attempt_id).delete()


def clear_sign_in_failures(*, username: str, now: datetime) -> None:
    """A successful sign-in clears the username's count; old rows go at the same time."""
    SignInFailure.objects.filter(Q(username=username.lower()) | Q(at__lte=now - LOCKOUT_WINDOW)).delete()
