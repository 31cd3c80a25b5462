"""API tokens, sign-in lockouts, passwords and profiles (SPEC §12)."""

import hashlib
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.test import APIClient

from scheduling import services
from scheduling.models import ApiToken
from tests.factories import make_person

User = get_user_model()
PASSWORD = "pw-rachel-battery-horse-staple"


def sign_in(username="rachel", password=PASSWORD, *, address="10.0.0.1", name=None):
    body = {"username": username, "password": password}
    if name is not None:
        body["name"] = name
    return APIClient(REMOTE_ADDR=address).post("/api/v1/auth/token", body, format="json")


def with_token(secret, scheme="Token"):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {secret}")
    return client


def test_a_token_is_made_once_and_only_its_digest_is_kept(requester):
    response = sign_in(name="rota sync")
    assert response.status_code == 201
    body = response.json()
    assert set(body) >= {"id", "token", "name", "expires_at"}
    assert body["token"].startswith("rlt_") and len(body["token"]) > 40
    assert body["name"] == "rota sync"
    stored = ApiToken.objects.get(pk=body["id"])
    assert stored.digest == hashlib.sha256(body["token"].encode()).hexdigest()
    assert body["token"] not in {str(getattr(stored, f.attname)) for f in ApiToken._meta.fields}
    assert response["Location"].endswith(f"/api/v1/auth/tokens/{body['id']}")


@pytest.mark.parametrize("scheme", ["Token", "Bearer", "bearer"])
def test_token_and_bearer_both_work(requester, scheme):
    secret = sign_in().json()["token"]
    response = with_token(secret, scheme).get("/api/v1/me")
    assert response.status_code == 200
    assert response.json()["username"] == "rachel"


@pytest.mark.parametrize(
    "header",
    ["Token rlt_unknown", "Bearer nonsense", "Token ", "Token a b", "Bearer rlt_" + "x" * 300],
)
def test_a_bad_token_answers_401_with_the_error_body(requester, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response.json()["detail"]


def test_a_token_expires(requester, settings):
    secret = sign_in().json()["token"]
    with time_machine.travel(ApiToken.objects.get().expires_at + timedelta(seconds=1)):
        response = with_token(secret).get("/api/v1/me")
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"


def test_revoking_one_token_leaves_the_others(requester):
    first = sign_in(name="one").json()
    second = sign_in(name="two").json()
    client = with_token(second["token"])
    listed = client.get("/api/v1/auth/tokens").json()["results"]
    assert {t["name"] for t in listed} == {"one", "two"}
    assert all("token" not in t for t in listed)

    assert client.delete(f"/api/v1/auth/tokens/{first['id']}").status_code == 204

    assert with_token(first["token"]).get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me").status_code == 200


def test_nobody_revokes_another_persons_token(requester, mentor):
    theirs = sign_in().json()
    mine = sign_in("mo", "pw-mo-battery-horse-staple").json()
    response = with_token(mine["token"]).delete(f"/api/v1/auth/tokens/{theirs['id']}")
    assert response.status_code == 404
    assert with_token(theirs["token"]).get("/api/v1/me").status_code == 200


def test_a_password_change_revokes_every_token(requester, now):
    secrets = [sign_in().json()["token"] for _ in range(2)]
    services.update_person(person=requester, now=now, password="a-whole-new-long-passphrase")
    assert [with_token(s).get("/api/v1/me").status_code for s in secrets] == [401, 401]


def test_a_password_changed_outside_the_services_also_ends_tokens(requester):
    secret = sign_in().json()["token"]
    user = User.objects.get(pk=requester.pk)
    user.set_password("changed-in-the-admin-passphrase")
    user.save()
    assert with_token(secret).get("/api/v1/me").status_code == 401


def test_deactivation_revokes_every_token(requester, now):
    secret = sign_in().json()["token"]
    services.update_person(person=requester, now=now, is_active=False)
    assert with_token(secret).get("/api/v1/me").status_code == 401
    assert not ApiToken.objects.filter(person=requester).exists()


def test_last_used_is_written_at_most_once_a_minute(requester):
    secret = sign_in().json()["token"]
    with time_machine.travel("2026-10-01 12:00:00Z", tick=False):
        with_token(secret).get("/api/v1/me")
        first = ApiToken.objects.get().last_used_at
        with_token(secret).get("/api/v1/me")
        assert ApiToken.objects.get().last_used_at == first
    with time_machine.travel("2026-10-01 12:01:30Z", tick=False):
        with_token(secret).get("/api/v1/me")
        assert ApiToken.objects.get().last_used_at > first


def test_the_sixth_attempt_is_locked_out_even_with_the_right_password(requester):
    for _ in range(5):
        assert sign_in(password="wrong-password").status_code == 400
    response = sign_in()
    assert response.status_code == 429
    assert response.json()["code"] == "too_many_attempts"
    assert 0 < int(response["Retry-After"]) <= 900
    # Another username from another address is unaffected.
    make_person("kim", requester=True)
    assert sign_in("kim", "pw-kim-battery-horse-staple", address="10.0.0.2").status_code == 201


def test_the_lockout_ends_after_fifteen_minutes_and_success_clears_the_count(requester):
    with time_machine.travel("2026-10-01 12:00:00Z", tick=False):
        for _ in range(5):
            sign_in(password="wrong-password")
        assert sign_in().status_code == 429
    with time_machine.travel("2026-10-01 12:15:01Z", tick=False):
        assert sign_in().status_code == 201
        for _ in range(4):
            sign_in(password="wrong-password")
        assert sign_in().status_code == 201  # four new failures: still under the limit


def test_twenty_failures_from_one_address_lock_that_address(db):
    for i in range(20):
        sign_in(f"nobody{i}", "wrong-password", address="10.9.9.9")
    make_person("kim", requester=True)
    assert sign_in("kim", "pw-kim-battery-horse-staple", address="10.9.9.9").status_code == 429
    assert sign_in("kim", "pw-kim-battery-horse-staple", address="10.9.9.8").status_code == 201


def test_web_admin_and_api_share_the_count(requester, client):
    for _ in range(2):
        client.post("/sign-in/", {"username": "rachel", "password": "wrong-password"})
    for _ in range(2):
        client.post("/admin/login/", {"username": "rachel", "password": "wrong-password"})
    sign_in(password="wrong-password", address="127.0.0.1")
    page = client.post("/sign-in/", {"username": "rachel", "password": PASSWORD})
    assert page.status_code == 200
    assert "Too many failed sign-ins" in page.content.decode()
    assert "_auth_user_id" not in client.session
    admin = client.post("/admin/login/", {"username": "rachel", "password": PASSWORD})
    assert "Too many failed sign-ins" in admin.content.decode()


def test_short_and_common_passwords_are_refused(admin_user):
    client = APIClient()
    client.force_authenticate(admin_user)
    for password in ["short-pw", "password1234", "123456789012"]:
        response = client.post(
            "/api/v1/people", {"username": "newbie", "name": "New", "password": password}, format="json"
        )
        assert response.status_code == 400, password
        assert "password" in response.json()["fields"]
    assert not User.objects.filter(username="newbie").exists()


def test_createsuperuser_makes_a_working_admin(db, client, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "root-passphrase-for-the-trust")
    call_command("createsuperuser", "--noinput", username="root", email="root@trust.example", verbosity=0)
    root = User.objects.get(username="root")
    api = APIClient()
    api.force_authenticate(root)
    assert api.get("/api/v1/me").status_code == 200
    client.force_login(root)
    for path in ["/", "/shifts/", "/bookings/", "/lead/queue/", "/api-tokens/", "/admin/"]:
        assert client.get(path).status_code == 200, path


def test_the_api_tokens_page_makes_shows_once_and_revokes(requester, client):
    client.force_login(requester)
    made = client.post("/api-tokens/", {"name": "laptop script"})
    assert made.status_code == 200
    assert made["Referrer-Policy"] == "strict-origin" and made["Cache-Control"] == "no-store"
    secret = made.context["secret"]
    assert secret.startswith("rlt_") and secret in made.content.decode()
    assert with_token(secret).get("/api/v1/me").status_code == 200
    listing = client.get("/api-tokens/").content.decode()
    assert "laptop script" in listing and secret not in listing
    token = ApiToken.objects.get(person=requester)
    client.post("/api-tokens/", {"revoke": token.pk})
    assert with_token(secret).get("/api/v1/me").status_code == 401


def test_a_new_calendar_link_is_kept_nowhere_but_the_response(requester, client):
    from django.contrib.sessions.models import Session

    client.force_login(requester)
    response = client.post("/calendar/new/")
    assert response.status_code == 200
    assert response["Referrer-Policy"] == "no-referrer"
    token = response.context["urls"]["url"].rsplit("/", 1)[1].removesuffix(".ics")
    assert token.startswith("rla_")
    for session in Session.objects.all():
        assert token not in str(session.get_decoded())


def test_each_person_has_an_api_rate_shared_by_every_process(requester, admin_user, settings):
    settings.RIDEALONG_API_RATE = "3/min"
    secret = sign_in().json()["token"]
    with time_machine.travel("2026-10-01 12:00:10Z", tick=False):
        answers = [with_token(secret).get("/api/v1/me") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1].json()["code"] == "throttled" and 0 < int(answers[-1]["Retry-After"]) <= 60
    with time_machine.travel("2026-10-01 12:01:01Z", tick=False):
        assert with_token(secret).get("/api/v1/me").status_code == 200  # a new minute
    admin = APIClient()
    admin.force_authenticate(admin_user)
    with time_machine.travel("2026-10-01 12:00:20Z", tick=False):
        assert all(admin.get("/api/v1/me").status_code == 200 for _ in range(5))
