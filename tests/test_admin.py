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
    services.give_consent(booking_id=booking.pk, person=paramedic, now=NOW)
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
