import os
import socket
import threading
import zoneinfo
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller

from tests.factories import local, make_person, make_resource, make_shift, make_station

LONDON = zoneinfo.ZoneInfo("Europe/London")


def pytest_collection_modifyitems(config, items):
    """Slow checks that do not depend on the suite's database run in one of CI's two passes (.ci/run
    names the pass in RIDEALONG_CI_PASS); `once_per_ci("sqlite")` puts one in the SQLite pass, the rest
    run in the PostgreSQL pass. Without RIDEALONG_CI_PASS, as in a plain `make test`, everything runs."""
    this_pass = os.environ.get("RIDEALONG_CI_PASS")
    if not this_pass:
        return
    for item in items:
        marker = item.get_closest_marker("once_per_ci")
        if marker is None:
            continue
        home = marker.args[0] if marker.args else "postgresql"
        if home != this_pass:
            item.add_marker(pytest.mark.skip(reason=f"runs once per CI, in the {home} pass (.ci/run)"))


@pytest.fixture
def now():
    return datetime(2026, 10, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def requester(db):
    return make_person("rachel", requester=True, name="Rachel Requester")


@pytest.fixture
def mentor(db):
    return make_person("mo", requester=True, name="Mo Mentor")


@pytest.fixture
def paramedic(db):
    return make_person("pat", name="Pat Paramedic", cleared=False)


@pytest.fixture
def technician(db):
    return make_person("terry", name="Terry Technician", preference="always", cleared=False)


@pytest.fixture
def lead(db):
    return make_person("lee", name="Lee Lead", cleared=False)


@pytest.fixture
def outsider(db):
    return make_person("otto", name="Otto Outsider", cleared=False)


@pytest.fixture
def admin_user(db):
    return make_person("ada", name="Ada Admin", staff=True, cleared=False)


@pytest.fixture
def station(lead):
    return make_station("LGH", name="Loughborough", address="Epinal Way, Loughborough", leads=[lead])


@pytest.fixture
def resource(station):
    return make_resource(station, "DA12", seats=2)


@pytest.fixture
def night(resource, paramedic, technician, now):
    """19:00 10 Oct 2026 to 07:00 11 Oct 2026, London: a night that crosses midnight."""
    return make_shift(
        resource,
        local(2026, 10, 10, 19),
        local(2026, 10, 11, 7),
        crew=[(paramedic, "paramedic"), (technician, "technician")],
        now=now,
    )


@pytest.fixture
def london():
    return LONDON


@pytest.fixture
def book(now):
    from scheduling import services

    def _book(person, shift, observers=None, *, at=None, allow_waitlist=True, purpose="Learn how nights run"):
        return services.request_booking(
            actor=person,
            shift_id=shift.pk,
            observer_ids=None if observers is None else [o.pk for o in observers],
            purpose=purpose,
            allow_waitlist=allow_waitlist,
            now=at or now,
        )

    return _book


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def api():
    """An API client signed in as whoever is passed: api(person).get(...)."""
    from rest_framework.test import APIClient

    def _client(person=None):
        client = APIClient()
        if person is not None:
            client.force_authenticate(person)
        return client

    return _client


class Inbox:
    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()
        self.controller = None
        self.port = None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.messages.append((rcpt, message_from_bytes(envelope.content, policy=default_policy)))
        return "250 OK"

    def up(self):
        # A stopped aiosmtpd controller cannot start again, so "the server is back" is a new one.
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def down(self):
        self.controller.stop()
        self.controller = None

    def to(self, address):
        return [m for r, m in self.messages if r == address]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(settings):
    port = free_port()
    inbox = Inbox()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_TIMEOUT = 5
    inbox.port = port
    inbox.up()
    yield inbox
    if inbox.controller is not None:
        inbox.down()


@pytest.fixture(scope="session")
def browser():
    """One headless Debian Chromium for the session's browser tests (SPEC's flags for this machine)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        yield browser
        browser.close()
