"""Single sign-on with an organisation's OpenID Provider (SPEC §12), through Authlib.

Authorization-code flow with PKCE, `state` and `nonce`; Authlib checks the ID token's signature against
the provider's JWKS, its issuer, audience, expiry and nonce. Claims only say who someone is: they never
grant a role.
"""

import logging

from authlib.integrations.base_client import OAuthError
from authlib.integrations.django_client import OAuth
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q

logger = logging.getLogger(__name__)
User = get_user_model()

_oauth = OAuth()


class NoMatch(Exception):
    """The provider vouched for someone Ridealong does not know (or knows as deactivated)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def enabled() -> bool:
    return bool(settings.OIDC_ISSUER and settings.OIDC_CLIENT_ID)


def client():
    """The provider's client, configured by discovery from OIDC_ISSUER on first use."""
    found = _oauth._clients.get("organisation")
    if found is None:
        _oauth.register(
            name="organisation",
            client_id=settings.OIDC_CLIENT_ID,
            client_secret=settings.OIDC_CLIENT_SECRET,
            server_metadata_url=settings.OIDC_ISSUER.rstrip("/") + "/.well-known/openid-configuration",
            client_kwargs={"scope": "openid email profile", "code_challenge_method": "S256"},
        )
        found = _oauth.create_client("organisation")
    return found


def redirect_uri() -> str:
    return settings.SITE_URL + "/oidc/callback/"


def person_for(claims: dict):
    """The active person the claims name, by e-mail (case-insensitive) or staff number; never by role."""
    claim = settings.OIDC_MATCH_CLAIM
    value = claims.get(claim)
    if not isinstance(value, str) or not value.strip():
        raise NoMatch("no_claim")
    value = value.strip()
    if claim == "email":
        people = User.objects.filter(email__iexact=value)
    else:
        people = User.objects.filter(Q(profile__staff_number__iexact=value))
    people = list(people.select_related("profile")[:2])
    if len(people) == 1:
        if not people[0].is_active:
            raise NoMatch("deactivated")
        return people[0]
    if len(people) > 1:
        raise NoMatch("ambiguous")
    if not settings.OIDC_CREATE_PEOPLE:
        raise NoMatch("unknown")
    return _create(claims, claim, value)


def _create(claims: dict, claim: str, value: str):
    """A new person with no roles (OIDC_CREATE_PEOPLE): the admin grants roles later."""
    from .services import create_person

    email = claims.get("email") if isinstance(claims.get("email"), str) else ""
    base = (email.split("@")[0] if email else str(claims.get("sub", "person")))[:120] or "person"
    username, n = base, 1
    while User.objects.filter(username=username).exists():
        n += 1
        username = f"{base}{n}"
    return create_person(
        username=username,
        name=str(claims.get("name") or "")[:200],
        email=email or "",
        staff_number=value if claim != "email" else None,
    )


def end_session_url(id_token: str | None) -> str | None:
    """The provider's sign-out address, when it offers one."""
    try:
        metadata = client().load_server_metadata()
    except Exception:  # noqa: BLE001 - the provider being away must not stop a local sign-out
        logger.warning("could not read the provider's metadata for sign-out")
        return None
    endpoint = metadata.get("end_session_endpoint")
    if not endpoint:
        return None
    from urllib.parse import urlencode

    query = {"post_logout_redirect_uri": settings.SITE_URL + "/sign-in/", "client_id": settings.OIDC_CLIENT_ID}
    if id_token:
        query["id_token_hint"] = id_token
    return f"{endpoint}?{urlencode(query)}"


__all__ = ["NoMatch", "OAuthError", "client", "enabled", "end_session_url", "person_for", "redirect_uri"]
