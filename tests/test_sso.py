"""Single sign-on against a real OpenID Provider (SPEC §12): the npm package oidc-provider, started here.

The browser signs in on the provider's own login page and lands signed in as the right person; tampered
flows (a wrong state, a replayed code) are refused by Authlib's checks, nothing patched.
"""

import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from scheduling import services
from tests.factories import make_person
from tests.live import free_port

ROOT = Path(__file__).resolve().parent.parent
NODE = shutil.which("node")
PROVIDER = ROOT / "node_modules" / "oidc-provider"
CHROMIUM = "/usr/bin/chromium"

pytestmark = [
    pytest.mark.once_per_ci,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        NODE is None or not PROVIDER.exists() or not shutil.which(CHROMIUM),
        reason="needs Node, the npm package oidc-provider (make test runs npm ci) and Debian's chromium",
    ),
]
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ACCOUNTS = {
    "rachel-at-trust": {"email": "RACHEL@Trust.Example", "name": "Rachel R", "employee_id": "X1"},
    "mo-by-staff-number": {"email": "mo.elsewhere@other.example", "name": "Mo M", "employee_id": "S-MO-1"},
    "stranger": {"email": "stranger@trust.example", "name": "Stranger", "employee_id": "X9"},
    "gone": {"email": "gone@trust.example", "name": "Gone", "employee_id": "X8"},
    # Claims Rachel's address without the provider having verified it.
    "impostor": {"email": "rachel@trust.example", "email_verified": False, "name": "Not Rachel", "employee_id": "X7"},
    # Another provider account whose (verified) address is Rachel's.
    "rachel-twin": {"email": "rachel@trust.example", "name": "Rachel Twin", "employee_id": "X6"},
}


@pytest.fixture
def people(db, now):
    rachel = make_person("rachel", requester=True, name="Rachel Requester", email="rachel@trust.example")
    mo = make_person("mo", requester=True, name="Mo Mentor", email="mo@trust.example")
    mo.profile.staff_number = "S-MO-1"
    mo.profile.save(update_fields=["staff_number"])
    for person in (rachel, mo):  # they chose English at an earlier sign-in
        services.set_language(person=person, language="en", now=now)
    gone = make_person("gone", name="Gone Person", email="gone@trust.example")
    services.update_person(person=gone, now=now, is_active=False)
    return {"rachel": rachel, "mo": mo}


@pytest.fixture(scope="module")
def signing_key():
    from joserfc.jwk import RSAKey

    return RSAKey.generate_key(2048, parameters={"kid": "ridealong-test", "alg": "RS256", "use": "sig"}, private=True)


@pytest.fixture
def provider(request, live_server, settings, signing_key):
    """The provider, configured as Entra ID is (claims in the ID token) unless the test asks for its defaults."""
    port = free_port()
    env = {
        **os.environ,
        "OP_DEFAULTS": "1" if getattr(request, "param", "") == "defaults" else "0",
        "OP_JWKS": json.dumps({"keys": [signing_key.as_dict(private=True)]}),
        "OP_PORT": str(port),
        "OP_ACCOUNTS": json.dumps(ACCOUNTS),
        "OP_CLIENT_ID": "ridealong",
        "OP_CLIENT_SECRET": "ridealong-test-secret",
        "OP_REDIRECT_URI": live_server.url + "/oidc/callback/",
        "OP_POST_LOGOUT_URI": live_server.url + "/sign-in/",
    }
    process = subprocess.Popen(
        [NODE, str(ROOT / "tests" / "oidc" / "provider.mjs")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    issuer = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(issuer + "/.well-known/openid-configuration", timeout=1)  # noqa: S310 - loopback
            break
        except OSError:
            time.sleep(0.1)
    settings.SITE_URL = live_server.url
    settings.OIDC_ISSUER = issuer
    settings.OIDC_CLIENT_ID = "ridealong"
    settings.OIDC_CLIENT_SECRET = "ridealong-test-secret"
    from scheduling import sso

    sso._oauth._clients.clear()
    sso._oauth._registry.clear()
    yield issuer
    process.terminate()
    process.wait(timeout=10)
    sso._oauth._clients.clear()
    sso._oauth._registry.clear()


def sign_in_at_provider(browser, live_server, account):
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    page.goto(live_server.url + "/sign-in/")
    page.click("text=Sign in with your organisation account")
    page.fill("input[name=login]", account)
    page.fill("input[name=password]", "anything")
    page.click("button[type=submit]")
    if page.locator("button[autofocus], button:has-text('Continue')").count():
        page.click("button:has-text('Continue')")
    page.wait_for_load_state()
    return context, page


def whoami(page) -> str:
    """The name in the header's account list (the language switch is there for everyone)."""
    items = page.locator(".nhsuk-header__account-item:not(:has([data-language-switch]))")
    return items.first.inner_text() if items.count() else ""


@pytest.mark.parametrize("provider", ["claims_in_id_token", "defaults"], indirect=True)
def test_a_person_matched_by_email_signs_in_through_the_provider(browser, live_server, provider, people):
    """At its defaults the provider keeps `email` out of the ID token: it is read from UserInfo."""
    context, page = sign_in_at_provider(browser, live_server, "rachel-at-trust")
    assert page.url == live_server.url + "/"
    assert "Rachel Requester" in whoami(page)
    context.close()


def test_an_unverified_email_does_not_sign_in_as_the_person_who_owns_it(browser, live_server, provider, people):
    context, page = sign_in_at_provider(browser, live_server, "impostor")
    assert whoami(page) == "" and "not confirmed your e-mail address" in page.inner_text("main")
    context.close()
    people["rachel"].profile.refresh_from_db()
    assert people["rachel"].profile.oidc_subject is None


def test_a_provider_declared_to_verify_every_address_is_trusted(browser, live_server, provider, people, settings):
    settings.OIDC_TRUST_EMAIL = True
    context, page = sign_in_at_provider(browser, live_server, "impostor")
    assert "Rachel Requester" in whoami(page)
    context.close()


def test_the_first_sign_in_binds_the_person_and_another_account_with_their_email_is_refused(
    browser, live_server, provider, people
):
    context, page = sign_in_at_provider(browser, live_server, "rachel-at-trust")
    assert "Rachel Requester" in whoami(page)
    context.close()
    rachel = people["rachel"]
    rachel.profile.refresh_from_db()
    assert (rachel.profile.oidc_issuer, rachel.profile.oidc_subject) == (provider, "rachel-at-trust")
    context, page = sign_in_at_provider(browser, live_server, "rachel-twin")
    assert whoami(page) == "" and "linked to a different organisation account" in page.inner_text("main")
    context.close()
    # Bound, she is found by her provider account even once her address here has changed.
    rachel.email = "rachel.new@trust.example"
    rachel.save(update_fields=["email"])
    context, page = sign_in_at_provider(browser, live_server, "rachel-at-trust")
    assert "Rachel Requester" in whoami(page)
    context.close()


@pytest.mark.parametrize("provider", ["defaults"], indirect=True)
def test_userinfo_for_another_subject_is_refused(provider, people, monkeypatch):
    from scheduling import sso

    client = sso.client()
    monkeypatch.setattr(type(client), "userinfo", lambda self, **kw: {"sub": "someone-else", "email": "x@y.z"})
    with pytest.raises(sso.NoMatch) as refused:
        sso.claims_for({"access_token": "at", "userinfo": {"sub": "rachel-at-trust"}})
    assert refused.value.reason == "wrong_subject"


def test_a_person_matched_by_staff_number(browser, live_server, provider, people, settings):
    settings.OIDC_MATCH_CLAIM = "employee_id"
    context, page = sign_in_at_provider(browser, live_server, "mo-by-staff-number")
    assert "Mo Mentor" in whoami(page)
    context.close()


def test_someone_unknown_is_told_to_ask_an_admin_and_a_deactivated_person_is_refused(
    browser, live_server, provider, people
):
    context, page = sign_in_at_provider(browser, live_server, "stranger")
    assert "not linked to a Ridealong account" in page.inner_text("main")
    context.close()
    context, page = sign_in_at_provider(browser, live_server, "gone")
    assert "deactivated" in page.inner_text("main")
    context.close()


def test_with_create_people_a_stranger_gets_an_account_with_no_roles(browser, live_server, provider, people, settings):
    from django.contrib.auth import get_user_model

    settings.OIDC_CREATE_PEOPLE = True
    context, page = sign_in_at_provider(browser, live_server, "stranger")
    made = get_user_model().objects.get(email="stranger@trust.example")
    assert (made.profile.is_requester, made.is_staff, made.lead_of.exists()) == (False, False, False)
    # Someone new is asked once which language they want, then goes on to the home page (SPEC §20).
    assert page.url == live_server.url + "/language/?next=%2F"
    context.close()


def test_sign_out_reaches_the_providers_end_session_endpoint(browser, live_server, provider, people):
    context, page = sign_in_at_provider(browser, live_server, "rachel-at-trust")
    seen = []
    page.on("request", lambda r: seen.append(r.url))
    page.click("button:has-text('Sign out')")
    page.wait_for_load_state()
    assert any(url.startswith(provider + "/session/end") for url in seen), seen
    context.close()


def test_a_wrong_state_and_a_replayed_code_are_refused(browser, live_server, provider, people):
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    callbacks = []
    page.on("request", lambda r: callbacks.append(r.url) if "/oidc/callback/" in r.url else None)
    page.goto(live_server.url + "/oidc/authenticate/")
    page.fill("input[name=login]", "rachel-at-trust")
    page.fill("input[name=password]", "anything")
    page.click("button[type=submit]")
    if page.locator("button:has-text('Continue')").count():
        page.click("button:has-text('Continue')")
    page.wait_for_load_state()
    assert "Rachel Requester" in whoami(page)
    callback = callbacks[-1]
    # The same code again, in a fresh browser: the state is not this session's, and the code is spent.
    other_context = browser.new_context(bypass_csp=True)
    other = other_context.new_page()
    replay = other.goto(callback)
    assert replay.status == 400 and "could not be completed" in other.inner_text("main")
    tampered = other.goto(callback.replace("state=", "state=x"))
    assert tampered.status == 400
    other_context.close()
    context.close()


def test_password_sign_in_none_hides_the_form_and_refuses_passwords(client, people, settings, provider):
    settings.PASSWORD_SIGN_IN = "none"
    page = client.get("/sign-in/").content.decode()
    assert "Sign in with your organisation account" in page and 'name="password"' not in page
    from rest_framework.test import APIClient

    answer = APIClient().post(
        "/api/v1/auth/token", {"username": "rachel", "password": "pw-rachel-battery-horse-staple"}, format="json"
    )
    assert answer.status_code == 403 and answer.json()["code"] == "password_sign_in_off"
    admin = client.post("/admin/login/", {"username": "rachel", "password": "pw-rachel-battery-horse-staple"})
    assert "_auth_user_id" not in client.session and admin.status_code == 200


def id_token(signing_key, issuer, **claims):
    """An ID token signed with the provider's own key (the one it publishes in its JWKS)."""
    from joserfc import jwt

    now = int(time.time())
    body = {"iss": issuer, "sub": "rachel-at-trust", "aud": "ridealong", "iat": now, "exp": now + 300, "nonce": "n-1"}
    return jwt.encode({"alg": "RS256", "kid": "ridealong-test"}, {**body, **claims}, signing_key)


def test_id_tokens_for_another_audience_or_past_their_expiry_are_refused(provider, signing_key, people):
    """The checks the callback runs (Authlib's parse_id_token against the provider's JWKS), on tokens the
    provider's key signed: the good one passes; another audience, an old expiry, a wrong issuer do not."""
    # Authlib checks ID tokens with joserfc, whose errors these are.
    from joserfc.errors import ExpiredTokenError, InvalidClaimError, MissingClaimError

    from scheduling import sso

    client = sso.client()
    good = client.parse_id_token({"access_token": "at", "id_token": id_token(signing_key, provider)}, nonce="n-1")
    assert good["sub"] == "rachel-at-trust"
    # A token for another client: refused (Authlib names the missing authorised party, azp, or the audience).
    with pytest.raises((InvalidClaimError, MissingClaimError), match="aud|azp"):
        client.parse_id_token(
            {"access_token": "at", "id_token": id_token(signing_key, provider, aud="someone-else")}, nonce="n-1"
        )
    with pytest.raises(ExpiredTokenError):
        past = int(time.time()) - 3600
        client.parse_id_token(
            {"access_token": "at", "id_token": id_token(signing_key, provider, iat=past - 60, exp=past)}, nonce="n-1"
        )
    with pytest.raises(InvalidClaimError):
        client.parse_id_token(
            {"access_token": "at", "id_token": id_token(signing_key, provider, iss="https://evil.example")}, nonce="n-1"
        )
    with pytest.raises(InvalidClaimError):
        client.parse_id_token(
            {"access_token": "at", "id_token": id_token(signing_key, provider)}, nonce="another-nonce"
        )
