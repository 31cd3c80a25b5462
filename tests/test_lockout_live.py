"""Sign-in lockouts hold across gunicorn's worker processes (SPEC §12): a live server with four workers."""

import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.live import PASSWORD, demo_server

pytestmark = pytest.mark.once_per_ci("sqlite")  # its server runs on SQLite whatever the pass


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with demo_server(tmp_path_factory.mktemp("lockout"), workers=4) as base:
        yield base


def token(base, username, password):
    request = urllib.request.Request(
        base + "/api/v1/auth/token",
        data=json.dumps({"username": username, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback only
            return response.status, dict(response.headers), json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.load(error)


def form_sign_in(base, path, username, password):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + path, timeout=30).read().decode()  # noqa: S310 - loopback only
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": csrf}).encode()
    request = urllib.request.Request(base + path, data=body, headers={"Referer": base + path})
    return opener.open(request, timeout=30).read().decode()  # noqa: S310 - loopback only


def test_the_sixth_attempt_is_refused_by_every_path_and_every_worker(server):
    # Five failures spread over the pages, the admin and the API (and so over the workers).
    form_sign_in(server, "/sign-in/", "mo", "wrong-password-1")
    form_sign_in(server, "/admin/login/", "mo", "wrong-password-2")
    for attempt in range(3):
        status, _, _ = token(server, "mo", f"wrong-password-{attempt + 3}")
        assert status == 400
    # The right password is refused now, on every path, whichever worker answers.
    for _ in range(4):
        status, headers, body = token(server, "mo", PASSWORD)
        assert (status, body["code"]) == (429, "too_many_attempts")
        assert 0 < int(headers["Retry-After"]) <= 900
    assert "Too many failed sign-ins" in form_sign_in(server, "/sign-in/", "mo", PASSWORD)
    assert "Too many failed sign-ins" in form_sign_in(server, "/admin/login/", "mo", PASSWORD)
    # Another person is unaffected.
    status, _, body = token(server, "rachel", PASSWORD)
    assert status == 201 and body["token"].startswith("rlt_")
