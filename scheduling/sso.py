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


def issuer() -> str:
    """The issuer the provider names itself by (its discovery document), which its ID tokens carry."""
    return client().load_server_metadata().get("issuer") or settings.OIDC_ISSUER


def redirect_uri() -> str:
    return settings.SITE_URL + "/oidc/callback/"


def claims_for(token: dict) -> dict:
    """The ID token's claims, completed from UserInfo when a claim the match needs is not in it.

    OpenID Connect Core §5.4: in the code flow a provider may keep `email` and `name` out of the ID token
    (node oidc-provider and Okta do by default) and answer them from UserInfo with the access token.
    UserInfo's `sub` must be the ID token's, or the answer is someone else's and the sign-in is refused.
    """
    claims = dict(token.get("userinfo") or {})
    wanted = {settings.OIDC_MATCH_CLAIM, "email", "name"}
    if settings.OIDC_MATCH_CLAIM == "email":
        wanted.add("email_verified")
    if wanted <= claims.keys() or not client().load_server_metadata().get("userinfo_endpoint"):
        return claims
    extra = client().userinfo(token=token)
    if not claims.get("sub") or extra.get("sub") != claims["sub"]:
        raise NoMatch("wrong_subject")
    return {**extra, **claims}


def person_for(claims: dict, issuer: str | None = None):
    """The active person the claims name; never by role (SPEC §12).

    A person bound to this provider's (issuer, sub) is that person. Otherwise the match claim finds them
    (an e-mail only when the provider verified it), and the first match binds them; another `sub` claiming
    a bound person's e-mail is refused.
    """
    issuer = issuer if issuer is not None else settings.OIDC_ISSUER
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise NoMatch("no_claim")
    bound = (
        User.objects.select_related("profile")
        .filter(profile__oidc_issuer=issuer, profile__oidc_subject=subject)
        .first()
    )
    if bound is not None:
        if not bound.is_active:
            raise NoMatch("deactivated")
        return bound
    claim = settings.OIDC_MATCH_CLAIM
    value = claims.get(claim)
    if not isinstance(value, str) or not value.strip():
        raise NoMatch("no_claim")
    value = value.strip()
    if claim == "email":
        if claims.get("email_verified") is not True and not settings.OIDC_TRUST_EMAIL:
            raise NoMatch("unverified")
        people = User.objects.filter(email__iexact=value)
    else:
        people = User.objects.filter(Q(profile__staff_number__iexact=value))
    people = list(people.select_related("profile")[:2])
    if len(people) > 1:
        raise NoMatch("ambiguous")
    if people:
        person = people[0]
        if not person.is_active:
            raise NoMatch("deactivated")
        if person.profile.oidc_subject is not None:
            # Bound to another account at a provider: an address (or number) claimed again is not them.
            raise NoMatch("bound_elsewhere")
        _bind(person, issuer, subject)
        return person
    if not settings.OIDC_CREATE_PEOPLE:
        raise NoMatch("unknown")
    person = _create(claims, claim, value)
    _bind(person, issuer, subject)
    return person


def _bind(person, issuer: str, subject: str) -> None:
    from .services.people import bind_organisation_account

    bind_organisation_account(person=person, issuer=issuer, subject=subject)


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


__all__ = [
    "NoMatch",
    "OAuthError",
    "client",
    "enabled",
    "end_session_url",
    "person_for",
    "redirect_uri",
    "claims_for",
    "issuer",
]
