"""The schema is the contract (SPEC §6): a client generated from it walks the seed story with typed calls only.

The live schema is validated, a client is generated with openapi-python-client (no hand-written fixes),
and every call below goes through it; each error status is parsed into the schema's Error model.
"""

import importlib
import subprocess
import sys
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from tests.live import PASSWORD, demo_server

GENERATOR = Path(sys.executable).with_name("openapi-python-client")

pytestmark = [
    pytest.mark.once_per_ci("sqlite"),  # its server runs on SQLite whatever the pass
    pytest.mark.skipif(not GENERATOR.exists(), reason="openapi-python-client is not installed (make test does)"),
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("client")


@pytest.fixture(scope="module")
def server(folder):
    # A short lock wait, so that the 503 below comes quickly.
    with demo_server(
        folder, workers=2, env={"RIDEALONG_LOCK_TIMEOUT_MS": "200"}, expected=("database is locked",)
    ) as base:
        yield base


@pytest.fixture(scope="module")
def schema(server, tmp_path_factory):
    from openapi_spec_validator import validate

    with urllib.request.urlopen(server + "/api/schema/", timeout=30) as response:  # noqa: S310 - loopback
        text = response.read().decode()
    validate(yaml.safe_load(text))
    path = tmp_path_factory.mktemp("schema") / "schema.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def api(schema, tmp_path_factory):
    """The generated package, imported; nothing in it is edited by hand."""
    folder = tmp_path_factory.mktemp("generated")
    config = folder / "config.yaml"
    config.write_text(
        "post_hooks: []\nproject_name_override: ridealong-client\npackage_name_override: ridealong_client\n"
    )
    subprocess.run(
        [str(GENERATOR), "generate", "--path", str(schema), "--config", str(config)],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    sys.path.insert(0, str(folder / "ridealong-client"))
    try:
        yield importlib.import_module("ridealong_client")
    finally:
        sys.path.remove(str(folder / "ridealong-client"))


def sign_in(api, base, username, password=PASSWORD):
    from ridealong_client.api.v1 import auth_token_create
    from ridealong_client.models import NewApiToken, TokenRequestRequest

    made = auth_token_create.sync(
        client=api.Client(base_url=base), body=TokenRequestRequest(username=username, password=password)
    )
    assert isinstance(made, NewApiToken), made
    return api.AuthenticatedClient(base_url=base, token=made.token)


def test_the_seed_story_through_a_generated_client(api, server):
    from ridealong_client.api.v1 import (
        bookings_approve,
        bookings_consent,
        bookings_create,
        bookings_retrieve,
        calendar_link_create,
        me_retrieve,
        people_lookup,
        shifts_list,
    )
    from ridealong_client.models import (
        Booking,
        BookingRequestRequest,
        BookingStatusEnum,
        CalendarLink,
        ConsentDecisionRequest,
        DecisionEnum,
        Me,
        PaginatedShiftList,
    )

    rachel, pat, lee = (sign_in(api, server, name) for name in ("rachel", "pat", "lee"))
    me = me_retrieve.sync(client=rachel)
    assert isinstance(me, Me) and me.is_requester

    # Rachel finds an open night at Loughborough next week.
    start = datetime.now().astimezone() + timedelta(days=4)
    shifts = shifts_list.sync(client=rachel, station=1, available=True, from_=start, to=start + timedelta(days=7))
    assert isinstance(shifts, PaginatedShiftList) and shifts.results
    night = next(s for s in shifts.results if s.starts_at.hour == 19 and any(c.role == "paramedic" for c in s.crew))

    # She looks up her mentor and books them both, safely retryable.
    mo = next(p for p in people_lookup.sync(client=rachel, q="mo") if p.username == "mo")
    body = BookingRequestRequest(shift=night.id, observers=[me.id, mo.id], purpose="See how a night crew works")
    response = bookings_create.sync_detailed(client=rachel, body=body, idempotency_key="client-story-1")
    assert response.status_code == 201 and response.headers["Location"].endswith(f"/bookings/{response.parsed.id}")
    booking = response.parsed
    assert isinstance(booking, Booking) and booking.status == BookingStatusEnum.PENDING
    again = bookings_create.sync_detailed(client=rachel, body=body, idempotency_key="client-story-1")
    assert again.status_code == 201 and again.parsed.id == booking.id

    # Pat consents (Terry's standing consent is already there); Lee approves.
    consented = bookings_consent.sync(
        client=pat, id=booking.id, body=ConsentDecisionRequest(decision=DecisionEnum.GIVE)
    )
    assert isinstance(consented, Booking)
    approved = bookings_approve.sync(client=lee, id=booking.id)
    assert isinstance(approved, Booking) and approved.status == BookingStatusEnum.APPROVED

    seen = bookings_retrieve.sync(client=rachel, id=booking.id)
    assert seen.status == BookingStatusEnum.APPROVED and sorted(seen.observers) == sorted([me.id, mo.id])
    link = calendar_link_create.sync(client=rachel)
    assert isinstance(link, CalendarLink)
    assert link.webcal_url.startswith("webcal://") and "calendar.google.com" in link.google_url


def test_every_error_status_parses_into_the_error_model(api, server, folder):
    from ridealong_client.api.v1 import (
        auth_token_create,
        bookings_approve,
        bookings_create,
        bookings_retrieve,
        me_retrieve,
        shifts_list,
    )
    from ridealong_client.models import BookingRequestRequest, Error, TokenRequestRequest

    rachel = sign_in(api, server, "rachel")
    lee = sign_in(api, server, "lee")
    shift = shifts_list.sync(client=rachel, station=1, available=True).results[-1]

    def error(response, status, code):
        assert response.status_code == status, response.content[:300]
        assert isinstance(response.parsed, Error), response.parsed
        assert response.parsed.code == code and response.parsed.detail
        return response.parsed

    bad = bookings_create.sync_detailed(client=rachel, body=BookingRequestRequest(shift=shift.id, purpose=" "))
    assert "purpose" in error(bad, 400, "invalid").fields.additional_properties
    stranger = api.AuthenticatedClient(base_url=server, token="rlt_not-a-real-token")
    error(me_retrieve.sync_detailed(client=stranger), 401, "not_authenticated")
    booking = bookings_create.sync(client=rachel, body=BookingRequestRequest(shift=shift.id, purpose="Errors"))
    error(bookings_approve.sync_detailed(client=rachel, id=booking.id), 403, "forbidden")
    error(bookings_retrieve.sync_detailed(client=rachel, id=10**9), 404, "not_found")
    bookings_approve.sync(client=lee, id=booking.id)
    error(bookings_approve.sync_detailed(client=lee, id=booking.id), 409, "invalid_transition")
    huge = BookingRequestRequest(shift=shift.id, purpose="x" * 300_000)
    error(bookings_create.sync_detailed(client=rachel, body=huge), 413, "too_large")
    once = BookingRequestRequest(shift=shift.id, purpose="Keyed")
    bookings_create.sync_detailed(client=rachel, body=once, idempotency_key="client-errors-1")
    changed = BookingRequestRequest(shift=shift.id, purpose="Keyed, but changed")
    error(
        bookings_create.sync_detailed(client=rachel, body=changed, idempotency_key="client-errors-1"),
        422,
        "idempotency_key_reused",
    )
    anonymous = api.Client(base_url=server)
    for _ in range(5):
        auth_token_create.sync_detailed(client=anonymous, body=TokenRequestRequest(username="una", password="wrong"))
    locked = auth_token_create.sync_detailed(
        client=anonymous, body=TokenRequestRequest(username="una", password=PASSWORD)
    )
    error(locked, 429, "too_many_attempts")
    assert int(locked.headers["Retry-After"]) > 0
    # Another writer holds the database: the request waits its bounded time, then 503 with Retry-After.
    import sqlite3

    holder = sqlite3.connect(folder / "demo.sqlite3", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        busy = bookings_create.sync_detailed(client=rachel, body=BookingRequestRequest(shift=shift.id, purpose="Busy"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert busy.status_code == 503 and isinstance(busy.parsed, Error), busy.content
    assert busy.parsed.code in ("busy", "unavailable") and int(busy.headers["Retry-After"]) > 0
