"""Visitors invited from outside the trust (SPEC §19): the link, its page, and what a visitor reaches."""

import logging
import re
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from scheduling.delivery import deliver_batch
from scheduling.errors import Forbidden, RuleViolation
from scheduling.middleware import VISITOR_PAGES
from scheduling.models import AuditEvent, Invitation
from scheduling.services import visitors
from scheduling.web import urls as web_urls

LINK = re.compile(r"http://127\.0\.0\.1:8000(/invite/[^/\s]+/)")


def mailed_link(smtp, address) -> str:
    while deliver_batch(now=None)[0]:
        pass
    text = smtp.to(address)[-1].get_body(("plain",)).get_content()
    return LINK.search(text).group(1)


@pytest.fixture
def invited(requester, now):
    return visitors.invite(actor=requester, name="Dana Director", email="Dana@Elsewhere.example", now=now)


def test_an_invitation_makes_a_visitor_with_no_password_or_roles(invited, requester, outsider, now):
    person = invited.person
    assert person.profile.is_visitor and not person.has_usable_password()
    assert (person.profile.is_requester, person.is_staff, person.profile.staff_number) == (False, False, None)
    assert person.email == "dana@elsewhere.example"
    assert AuditEvent.objects.filter(subject=person, action="invited", actor=requester).exists()
    with pytest.raises(RuleViolation) as taken:
        visitors.invite(actor=requester, name="Someone", email=requester.email.upper(), now=now)
    assert taken.value.code == "already_a_person" and requester.profile.name not in taken.value.detail
    with pytest.raises(Forbidden):
        visitors.invite(actor=outsider, name="X", email="x@example.com", now=now)


def test_the_link_through_real_mail_used_altered_expired_and_replaced(smtp, client, requester, now, caplog):
    with time_machine.travel(now, tick=False):
        visitors.invite(actor=requester, name="Dana Director", email="dana@elsewhere.example", now=now)
        link = mailed_link(smtp, "dana@elsewhere.example")
        with caplog.at_level(logging.INFO):
            shown = client.get(link)
        assert shown.status_code == 200 and "Dana Director" in shown.content.decode()
        assert Invitation.objects.get().accepted_at is None  # a GET changes nothing
        assert client.get(link[:-3] + "x/").status_code == 410
        assert "not valid" in client.get(link[:-3] + "x/").content.decode()
        weak = client.post(link, {"password": "short"})
        assert weak.status_code == 400
        done = client.post(link, {"password": "a-long-enough-visitor-passphrase"})
        assert done.status_code == 302 and done["Location"] == "/language/?next=%2Fpaperwork%2F"
        again = Client().get(link)
        assert again.status_code == 410 and "has been used" in again.content.decode()
    for record in caplog.records:
        assert link.split("/")[2] not in record.getMessage()
    # Expired, and replaced by a newer invitation.
    with time_machine.travel(now, tick=False):
        visitors.invite(actor=requester, name="Ed Elsewhere", email="ed@elsewhere.example", now=now)
        first = mailed_link(smtp, "ed@elsewhere.example")
    with time_machine.travel(now + timedelta(days=14, seconds=1), tick=False):
        assert "expired" in Client().get(first).content.decode()
    with time_machine.travel(now + timedelta(days=1), tick=False):
        visitors.invite(actor=requester, name="Ed Elsewhere", email="ed@elsewhere.example", now=now + timedelta(days=1))
        second = mailed_link(smtp, "ed@elsewhere.example")
        assert "replaced" in Client().get(first).content.decode()
        assert Client().get(second).status_code == 200


def test_a_visitor_reaches_only_their_own_corner(api, invited, night, now):
    visitor = invited.person
    with time_machine.travel(now, tick=False):
        for path in (
            "/api/v1/me",
            "/api/v1/bookings",
            "/api/v1/me/paperwork",
            "/api/v1/me/learning",
            "/api/v1/me/export",
        ):
            assert api(visitor).get(path).status_code == 200, path
        for path in (
            "/api/v1/shifts",
            f"/api/v1/shifts/{night.pk}",
            "/api/v1/stations",
            "/api/v1/people/lookup?q=ra",
            "/api/v1/open-requests",
            "/api/v1/programmes",
            "/api/v1/invitations",
            "/api/v1/resources",
        ):
            assert api(visitor).get(path).status_code == 404, path
        made = api(visitor).post("/api/v1/bookings", {"shift": night.pk, "purpose": "x"}, format="json")
        assert made.status_code == 404
    page = Client()
    page.force_login(visitor)
    for path in ("/", "/bookings/", "/paperwork/", "/learning/", "/my-data/", "/calendar/"):
        assert page.get(path).status_code == 200, path
    for path in (
        "/shifts/",
        f"/shifts/{night.pk}/request/",
        "/ask/",
        "/lead/queue/",
        "/visitors/invite/",
        "/crew/inbox/",
    ):
        assert page.get(path).status_code == 404, path


def test_a_visitor_can_be_named_as_an_observer(api, requester, invited, now):
    with time_machine.travel(now, tick=False):
        found = api(requester).get("/api/v1/people/lookup", {"q": "dana"}).json()
    assert [p["id"] for p in found] == [invited.person_id]


def test_the_api_invites_and_lists_what_one_sent(api, requester, lead, admin_user, now):
    with time_machine.travel(now, tick=False):
        made = api(requester).post(
            "/api/v1/invitations", {"name": "Fay Far", "email": "fay@far.example"}, format="json"
        )
        assert made.status_code == 201 and made["Location"].endswith(f"/invitations/{made.json()['id']}")
        assert made.json()["accepted_at"] is None
        assert [i["email"] for i in api(requester).get("/api/v1/invitations").json()["results"]] == ["fay@far.example"]
        assert api(lead).get("/api/v1/invitations").json()["count"] == 0
        assert api(admin_user).get("/api/v1/invitations").json()["count"] == 1
        bad = api(requester).post("/api/v1/invitations", {"name": "Gus", "email": "not-an-address"}, format="json")
        assert bad.status_code == 400 and {"email"} <= set(bad.json()["fields"])


def test_a_visitor_who_never_accepted_is_forgotten_after_30_days(invited, now):
    from scheduling.delivery import process_due

    process_due(now=now + timedelta(days=29))
    invited.person.refresh_from_db()
    assert invited.person.is_active
    process_due(now=now + timedelta(days=31))
    invited.person.refresh_from_db()
    assert not invited.person.is_active and invited.person.username == f"erased-{invited.person_id}"


def test_every_api_route_outside_a_visitors_corner_answers_404(api, invited, night, now):
    """Walk the URL table itself: every route that is not a visitor's answers them 404, whatever the method."""
    from scheduling.api.permissions import VISITOR_READ_ROUTES, VISITOR_ROUTES
    from scheduling.api.urls import v1

    visitor = invited.person
    with time_machine.travel(now, tick=False):
        for route in v1:
            if route.name in VISITOR_ROUTES:
                continue
            path = "/api/v1/" + re.sub(r"<int:\w+>", "1", re.sub(r"<str:\w+>", "x", str(route.pattern)))
            for method in ("get", "post", "patch", "delete"):
                if route.name in VISITOR_READ_ROUTES and method == "get":
                    continue
                answer = getattr(api(visitor), method)(path, {}, format="json")
                assert answer.status_code in (404, 405), (route.name, method, answer.status_code)
                if answer.status_code == 405:
                    continue
                assert answer.json()["code"] == "not_found", (route.name, method)


def test_every_page_outside_a_visitors_corner_answers_404(invited, night, now):
    """The pages' side of the matrix above: every named page not on the visitor's list is not there,
    to GET or POST."""
    page = Client()
    page.force_login(invited.person)
    checked = 0
    for pattern in web_urls.urlpatterns:
        if pattern.name in VISITOR_PAGES:
            continue
        args = {name: ("x" if name == "token" else 1) for name in pattern.pattern.converters}
        path = reverse(f"web:{pattern.name}", kwargs=args)
        with time_machine.travel(now, tick=False):
            assert page.get(path).status_code == 404, path
            assert page.post(path).status_code == 404, path
        checked += 1
    assert checked >= 20
