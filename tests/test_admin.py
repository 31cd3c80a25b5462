"""The Django admin lists every model and acts only through the services."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.apps import apps

from scheduling import services

NOW = datetime(2026, 10, 1, 12, tzinfo=UTC)


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_every_model_has_an_admin_page(admin_client, requester, night, book):
    book(requester, night)
    for model in apps.get_app_config("scheduling").get_models():
        if model._meta.model_name == "profile":  # edited inline on the person
            continue
        url = f"/admin/scheduling/{model._meta.model_name}/"
        assert admin_client.get(url).status_code == 200, url


def test_admin_approve_action_goes_through_the_service(admin_client, requester, paramedic, night, book):
    booking = book(requester, night)
    services.give_consent(booking_id=booking.pk, actor=paramedic, now=NOW)
    with time_machine.travel(NOW, tick=False):
        admin_client.post("/admin/scheduling/booking/", {"action": "approve", "_selected_action": [booking.pk]})
    booking.refresh_from_db()
    assert booking.status == "approved"
    assert booking.events.filter(action="lead_approved").exists()


def test_audit_events_are_read_only_in_the_admin(admin_client, requester, night, book):
    booking = book(requester, night)
    event = booking.events.get()
    assert admin_client.post(f"/admin/scheduling/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert booking.events.count() == 1


def test_station_and_resource_edits_in_the_admin_go_through_the_services(admin_client, lead, night, now):
    from scheduling import services
    from scheduling.models import AuditEvent, Booking, Station
    from tests.factories import make_person

    station = night.station
    services.update_station(actor=make_person(staff=True), station_id=station.pk, now=now, max_observers_per_day=1)
    first = services.request_booking(actor=make_person(requester=True), shift_id=night.pk, purpose="x", now=now)
    waiting = services.request_booking(actor=make_person(requester=True), shift_id=night.pk, purpose="x", now=now)
    assert (first.status, waiting.status) == ("pending", "waitlisted")
    form = {
        "code": station.code,
        "name": station.name,
        "address": station.address,
        "timezone": station.timezone,
        "min_notice_hours": 0,
        "max_observers_per_day": 2,
        "crew_hosting_limit": 4,
        "observer_limit_365d": "",
        "min_observer_age": 18,
        "leads": [lead.pk],
        "resources-TOTAL_FORMS": 1,
        "resources-INITIAL_FORMS": 1,
        "resources-MIN_NUM_FORMS": 0,
        "resources-MAX_NUM_FORMS": 1000,
        "resources-0-id": night.resource_id,
        "resources-0-station": station.pk,
    }
    import time_machine

    with time_machine.travel(now, tick=False):
        response = admin_client.post(f"/admin/scheduling/station/{station.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Station.objects.get(pk=station.pk).max_observers_per_day == 2
    assert Booking.objects.get(pk=waiting.pk).status == "pending"  # the raised cap moved the waiting list
    assert AuditEvent.objects.filter(station=station, action="station_changed").exists()


def test_revoking_tokens_in_the_admin_goes_through_the_services(admin_client, requester, monkeypatch):
    from django.utils import timezone

    from scheduling import services
    from scheduling.models import ApiToken, CalendarToken

    api_token, _ = services.accounts.issue_api_token(person=requester, name="laptop", now=timezone.now())
    services.issue_calendar_token(person=requester, now=timezone.now())
    calls = []
    for module, name in ((services.accounts, "revoke_api_token"), (services, "revoke_calendar_token")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda real=real, name=name, **kw: calls.append(name) or real(**kw))
    admin_client.post(f"/admin/scheduling/apitoken/{api_token.pk}/delete/", {"post": "yes"})
    calendar = CalendarToken.objects.get(person=requester)
    admin_client.post(
        "/admin/scheduling/calendartoken/",
        {"action": "delete_selected", "_selected_action": [calendar.pk], "post": "yes"},
    )
    assert calls == ["revoke_api_token", "revoke_calendar_token"]
    assert not ApiToken.objects.filter(person=requester).exists()
    assert not CalendarToken.objects.filter(person=requester).exists()
