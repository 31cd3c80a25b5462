"""Sign-in lockouts hold across gunicorn's worker processes (SPEC §12): a live server with four workers."""

import http.client
import http.cookiejar
import http.server
import json
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

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


def test_parallel_guesses_cannot_pass_the_limit_together(tmp_path_factory):
    """Eight wrong passwords at once, over four workers: at most five are checked, the rest are refused."""
    with (
        demo_server(tmp_path_factory.mktemp("parallel"), workers=4) as base,
        ThreadPoolExecutor(max_workers=8) as pool,
    ):
        answers = list(pool.map(lambda n: token(base, "una", f"wrong-password-{n}")[0], range(8)))
    assert answers.count(400) <= 5 and answers.count(429) >= 3, answers


class ForwardingProxy(http.server.ThreadingHTTPServer):
    """One proxy hop as the README's nginx makes it: X-Forwarded-For gets the client's address appended."""

    def __init__(self, upstream: str):
        self.upstream = upstream
        super().__init__(("127.0.0.1", 0), ProxyHandler)


class ProxyHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "x-forwarded-for")}
        before = self.headers.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = f"{before}, {self.client_address[0]}" if before else self.client_address[0]
        request = urllib.request.Request(
            self.server.upstream + self.path, data=body, headers=headers, method=self.command
        )
        try:
            response = urllib.request.urlopen(request, timeout=30)  # noqa: S310 - loopback only
        except urllib.error.HTTPError as error:
            response = error
        payload = response.read()
        response.close()
        self.send_response(response.status if hasattr(response, "status") else response.code)
        for key, value in response.headers.items():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _forward


def from_address(source: str, url: str, body: dict | None = None, headers: dict | None = None):
    """A request sent from another loopback address (127.0.0.0/8 is all this machine's), like another client."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30, source_address=(source, 0))
    data = json.dumps(body).encode() if body is not None else None
    connection.request(
        "POST" if data else "GET",
        parts.path,
        body=data,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    return response.status, payload


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    env = {"TRUSTED_PROXIES": "127.0.0.1"}
    with demo_server(tmp_path_factory.mktemp("proxied"), workers=2, env=env) as base:
        proxy = ForwardingProxy(base)
        thread = threading.Thread(target=proxy.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{proxy.server_address[1]}"
        proxy.shutdown()
        proxy.server_close()


def test_behind_the_proxy_one_clients_failures_lock_out_that_client_only(proxied):
    # Twenty wrong sign-ins from one client (each for another username, so no username locks), one of them
    # pretending with its own X-Forwarded-For to be someone else.
    for n in range(20):
        forged = {"X-Forwarded-For": "127.0.0.9"} if n % 2 else {}
        status, _ = from_address(
            "127.0.0.5", proxied + "/api/v1/auth/token", {"username": f"nobody{n}", "password": "x" * 12}, forged
        )
        assert status == 400
    status, payload = from_address(
        "127.0.0.5", proxied + "/api/v1/auth/token", {"username": "rachel", "password": PASSWORD}
    )
    assert status == 429 and json.loads(payload)["code"] == "too_many_attempts"
    # Everyone else behind the same proxy signs in as before.
    status, payload = from_address(
        "127.0.0.6", proxied + "/api/v1/auth/token", {"username": "rachel", "password": PASSWORD}
    )
    assert status == 201, payload
    status, _ = from_address("127.0.0.9", proxied + "/api/v1/auth/token", {"username": "mo", "password": PASSWORD})
    assert status == 201


def test_metrics_are_not_open_through_the_proxy(proxied):
    status, _ = from_address("127.0.0.1", proxied + "/metrics")
    assert status == 403
