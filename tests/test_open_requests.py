"""Asking for a date: open requests, fairest suggestions, placing, and what follows (SPEC §17)."""

import contextlib
import json
import random
import threading
from datetime import date, timedelta

import pytest
import time_machine
from django.conf import settings
from django.db import connection, transaction

from scheduling import services
from scheduling.errors import Forbidden, Invalid, InvalidTransition, RuleViolation
from scheduling.models import Booking, BookingStatus, Notification, OpenRequest, Shift
from scheduling.services import open_requests as opens
from tests.factories import local, make_person, make_resource, make_shift


def ask(person, station, *, first=date(2026, 10, 10), last=date(2026, 10, 20), now, **kw):
    return opens.create_open_request(
        actor=person, station_id=station.pk, from_date=first, to_date=last, purpose="See nights", now=now, **kw
    )


@pytest.fixture
def crews(station, lead, now, book):
    """Three ambulances at Loughborough whose crews have hosted 0, 2 and 3 ride-alongs this month, each with
    a free night on the 14th (B's earliest, then A's, then C's)."""
    made = {}
    for name, load, hour in (("a", 0, 20), ("b", 2, 19), ("c", 3, 21)):
        medic = make_person(f"medic_{name}", name=f"Medic {name.upper()}", cleared=False)
        resource = make_resource(station, f"DA2{load}", seats=3)
        for day in range(load):
            busy = make_shift(
                resource,
                local(2026, 10, 5 + day, 7),
                local(2026, 10, 5 + day, 19),
                crew=[(medic, "paramedic")],
                now=now,
            )
            book(make_person(requester=True), busy)
        free = make_shift(
            resource, local(2026, 10, 14, hour), local(2026, 10, 15, 7), crew=[(medic, "paramedic")], now=now
        )
        made[name] = {"medic": medic, "resource": resource, "shift": free}
    return made


def test_a_request_is_open_and_its_leads_are_told(requester, station, lead, now):
    request = ask(requester, station, now=now)
    assert request.status == "open" and list(request.observers.all()) == [requester]
    assert Notification.objects.filter(recipient=lead, kind="request_new").exists()
    assert request.events.get().action == "request_made"


@pytest.mark.parametrize(
    ("first", "last", "ok"),
    [
        (date(2026, 10, 1), date(2026, 12, 2), True),  # exactly 62 days apart
        (date(2026, 10, 1), date(2026, 12, 3), False),  # 63
        (date(2027, 3, 1), date(2027, 4, 2), True),  # to_date 183 days from today
        (date(2027, 3, 1), date(2027, 4, 3), False),  # 184
        (date(2026, 10, 12), date(2026, 10, 11), False),
        (date(2026, 9, 30), date(2026, 10, 11), False),  # before today
    ],
)
def test_the_window_boundaries(requester, station, now, first, last, ok):
    if ok:
        assert ask(requester, station, first=first, last=last, now=now).status == "open"
    else:
        with pytest.raises(Invalid) as refused:
            ask(requester, station, first=first, last=last, now=now)
        assert set(refused.value.fields) & {"from_date", "to_date"}
        assert not OpenRequest.objects.exists()


def test_a_station_suspended_for_the_whole_window_refuses(requester, station, lead, now):
    services.suspend_station(
        station_id=station.pk, actor=lead, until=local(2026, 10, 21), reason="Audit", cancel_bookings=False, now=now
    )
    with pytest.raises(RuleViolation) as refused:
        ask(requester, station, now=now)
    assert refused.value.code == "station_suspended"
    # Suspended for only part of it: asked, and only the days after it are suggested.
    assert ask(requester, station, last=date(2026, 10, 21), now=now).status == "open"


def test_suggestions_come_fairest_first_and_the_placed_crew_drops_back(requester, mentor, station, lead, crews, now):
    first = ask(requester, station, first=date(2026, 10, 14), last=date(2026, 10, 14), now=now)
    order = [s.shift.pk for s in opens.suggestions(first, now=now)]
    assert order == [crews["a"]["shift"].pk, crews["b"]["shift"].pk, crews["c"]["shift"].pk]
    assert [s.crew_load for s in opens.suggestions(first, now=now)] == [0, 2, 3]
    # Two requests placed on crew A: A hosts as many as B, and B's night starts first.
    second = ask(mentor, station, first=date(2026, 10, 14), last=date(2026, 10, 14), now=now)
    for placed in (first, second):
        opens.place_open_request(actor=lead, request_id=placed.pk, shift_id=crews["a"]["shift"].pk, now=now)
    third = ask(make_person(requester=True), station, first=date(2026, 10, 14), last=date(2026, 10, 14), now=now)
    assert [s.shift.pk for s in opens.suggestions(third, now=now)] == [
        crews["b"]["shift"].pk,
        crews["a"]["shift"].pk,
        crews["c"]["shift"].pk,
    ]


def test_placing_makes_an_approved_by_the_lead_booking_and_asks_the_crew(
    api, requester, mentor, station, lead, crews, now
):
    request = ask(requester, station, observer_ids=[requester.pk, mentor.pk], now=now)
    shift = crews["b"]["shift"]
    opens.place_open_request(actor=lead, request_id=request.pk, shift_id=shift.pk, now=now)
    request.refresh_from_db()
    booking = request.booking
    assert request.status == "placed" and booking.shift == shift and booking.lead_approved
    assert booking.status == BookingStatus.PENDING and booking.requested_by == requester
    assert sorted(p.person_id for p in booking.places.all()) == sorted([requester.pk, mentor.pk])
    assert Notification.objects.filter(recipient=crews["b"]["medic"], kind="consent_requested").exists()
    told = Notification.objects.get(recipient=mentor, kind="request_placed")
    assert shift.resource.call_sign in told.subject and "Medic" not in told.body
    services.give_consent(booking_id=booking.pk, actor=crews["b"]["medic"], now=now)
    assert Booking.objects.get(pk=booking.pk).status == BookingStatus.APPROVED


def test_a_crew_decline_sends_it_back_to_be_placed_elsewhere_naming_nothing(api, requester, station, lead, crews, now):
    request = ask(requester, station, now=now)
    tried = crews["a"]["shift"]
    opens.place_open_request(actor=lead, request_id=request.pk, shift_id=tried.pk, now=now)
    booking = OpenRequest.objects.get(pk=request.pk).booking
    services.decline_consent(booking_id=booking.pk, actor=crews["a"]["medic"], note="Training night", now=now)
    request.refresh_from_db()
    assert request.status == "open" and request.booking is None
    assert tried.pk not in [s.shift.pk for s in opens.suggestions(request, now=now)]
    with pytest.raises(Invalid):
        opens.place_open_request(actor=lead, request_id=request.pk, shift_id=tried.pk, now=now)
    again = Notification.objects.get(recipient=requester, kind="request_again")
    assert "Being placed again" in again.subject
    for secret in (tried.resource.call_sign, "Medic A", "Training night", "declined"):
        assert secret not in again.subject + again.body + again.html
    assert not Notification.objects.filter(recipient=requester, kind="consent_declined").exists()
    assert Notification.objects.filter(recipient=lead, kind="request_again_leads").exists()
    with time_machine.travel(now, tick=False):
        seen = api(requester).get(f"/api/v1/open-requests/{request.pk}").json()
    assert seen["status"] == "open" and seen["booking"] is None


def test_cancelling_a_placed_booking_closes_the_request_with_its_reason(requester, station, lead, crews, now):
    request = ask(requester, station, now=now)
    opens.place_open_request(actor=lead, request_id=request.pk, shift_id=crews["a"]["shift"].pk, now=now)
    booking = OpenRequest.objects.get(pk=request.pk).booking
    services.cancel_booking(booking_id=booking.pk, actor=requester, now=now)
    request.refresh_from_db()
    assert (request.status, request.close_reason) == ("closed", "requester_cancelled")


def test_a_lead_closes_with_a_reason_and_the_requester_withdraws(requester, mentor, station, lead, now):
    request = ask(requester, station, observer_ids=[requester.pk, mentor.pk], now=now)
    with pytest.raises(Invalid):
        opens.close_open_request(actor=lead, request_id=request.pk, reason=" ", now=now)
    with pytest.raises(Forbidden):
        opens.close_open_request(actor=requester, request_id=request.pk, reason="No", now=now)
    opens.close_open_request(actor=lead, request_id=request.pk, reason="No crew free in October", now=now)
    assert "No crew free in October" in Notification.objects.get(recipient=mentor, kind="request_closed").body
    with pytest.raises(InvalidTransition):
        opens.withdraw_open_request(actor=requester, request_id=request.pk, now=now)
    other = ask(requester, station, now=now)
    with pytest.raises(Forbidden):
        opens.withdraw_open_request(actor=lead, request_id=other.pk, now=now)
    assert opens.withdraw_open_request(actor=requester, request_id=other.pk, now=now).status == "withdrawn"


def test_who_sees_what_in_the_api(api, requester, mentor, station, lead, outsider, admin_user, crews, now):
    with time_machine.travel(now, tick=False):
        made = api(requester).post(
            "/api/v1/open-requests",
            {
                "station": station.pk,
                "from_date": "2026-10-10",
                "to_date": "2026-10-20",
                "purpose": "Nights",
                "observers": [requester.pk, mentor.pk],
                "time_of_day": "night",
            },
            format="json",
        )
        assert made.status_code == 201 and made["Location"].endswith(f"/open-requests/{made.json()['id']}")
        pk = made.json()["id"]
        assert made.json()["status"] == "open" and made.json()["time_of_day"] == "night"
        for person, status in ((requester, 200), (mentor, 200), (lead, 200), (admin_user, 200), (outsider, 404)):
            assert api(person).get(f"/api/v1/open-requests/{pk}").status_code == status
        for person, status in ((requester, 404), (mentor, 404), (outsider, 404), (lead, 200), (admin_user, 200)):
            assert api(person).get(f"/api/v1/open-requests/{pk}/suggestions").status_code == status
        suggested = api(lead).get(f"/api/v1/open-requests/{pk}/suggestions").json()
        assert suggested[0]["crew"][0]["person"] == crews["a"]["medic"].pk and suggested[0]["crew_load"] == 0
        assert (
            api(outsider)
            .post(f"/api/v1/open-requests/{pk}/place", {"shift": suggested[0]["shift"]}, format="json")
            .status_code
            == 404
        )
        assert (
            api(requester)
            .post(f"/api/v1/open-requests/{pk}/place", {"shift": suggested[0]["shift"]}, format="json")
            .status_code
            == 403
        )
        placed = api(lead).post(f"/api/v1/open-requests/{pk}/place", {"shift": suggested[0]["shift"]}, format="json")
        assert placed.status_code == 200 and placed.json()["status"] == "placed"
        assert [r["id"] for r in api(mentor).get("/api/v1/open-requests").json()["results"]] == [pk]
        assert api(outsider).get("/api/v1/open-requests").json()["count"] == 0
        bad = api(requester).post(
            "/api/v1/open-requests",
            {"station": station.pk, "from_date": "2026-10-20", "to_date": "2026-10-10", "purpose": "x"},
            format="json",
        )
        assert bad.status_code == 400 and "to_date" in bad.json()["fields"]


def test_a_party_that_fits_the_seats_but_not_the_day_cap_is_not_suggested(requester, mentor, station, lead, crews, now):
    services.update_station(actor=lead, station_id=station.pk, now=now, max_observers_per_day=1)
    request = ask(
        requester,
        station,
        observer_ids=[requester.pk, mentor.pk],
        first=date(2026, 10, 14),
        last=date(2026, 10, 14),
        now=now,
    )
    assert opens.suggestions(request, now=now) == []
    with pytest.raises(RuleViolation) as refused:
        opens.place_open_request(actor=lead, request_id=request.pk, shift_id=crews["a"]["shift"].pk, now=now)
    assert refused.value.code == "no_seats"
    assert (
        OpenRequest.objects.get(pk=request.pk).status == "open"
        and not Booking.objects.filter(from_request=request).exists()
    )


def test_a_shift_exactly_at_notice_is_suggested_and_a_minute_inside_is_not(requester, station, resource, now):
    at_notice = make_shift(resource, now + timedelta(hours=72), now + timedelta(hours=84), now=now)
    inside = make_shift(
        make_resource(station, "DA77"),
        now + timedelta(hours=72) - timedelta(minutes=1),
        now + timedelta(hours=80),
        now=now,
    )
    request = ask(requester, station, first=now.date(), last=now.date() + timedelta(days=5), now=now)
    suggested = [s.shift.pk for s in opens.suggestions(request, now=now)]
    assert at_notice.pk in suggested and inside.pk not in suggested


def test_an_auto_placing_station_places_at_once_and_again_after_a_decline(
    requester, station, lead, crews, now, django_capture_on_commit_callbacks
):
    services.update_station(actor=lead, station_id=station.pk, now=now, auto_place_requests=True)
    request = ask(requester, station, now=now)
    request.refresh_from_db()
    assert request.status == "placed" and request.booking.shift == crews["a"]["shift"]
    assert request.booking.lead_approved and request.booking.lead_approved_by is None
    with django_capture_on_commit_callbacks(execute=True):
        services.decline_consent(booking_id=request.booking.pk, actor=crews["a"]["medic"], now=now)
    request.refresh_from_db()
    assert request.status == "placed" and request.booking.shift == crews["b"]["shift"]


def test_a_station_that_places_observers_refuses_a_chosen_shift(api, requester, station, lead, night, now):
    services.update_station(actor=lead, station_id=station.pk, now=now, allow_shift_choice=False)
    with time_machine.travel(now, tick=False):
        refused = api(requester).post("/api/v1/bookings", {"shift": night.pk, "purpose": "Nights"}, format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "shift_choice_off"
    assert not Booking.objects.exists()
    assert ask(requester, station, now=now).status == "open"


def test_every_suggestion_places_on_random_rotas(station, lead, now, book):
    rng = random.Random(17)
    crew = [make_person(f"crew{i}", preference=rng.choice(["ask", "always"]), cleared=False) for i in range(6)]
    observers = [make_person(f"obs{i}", requester=True, cleared=rng.random() > 0.2) for i in range(4)]
    for n in range(18):
        day, hour = 10 + n % 9, rng.choice([7, 19])
        # Shifts n and n + 9 share a day: each half of the rota has its own two crew members.
        members = crew[2 * (n // 9)], crew[2 * (n // 9) + 1]
        shift = make_shift(
            make_resource(station, f"R{n}", seats=rng.choice([1, 2, 3])),
            local(2026, 10, day, hour),
            local(2026, 10, day, hour) + timedelta(hours=12),
            crew=[(members[0], "paramedic"), (members[1], "technician")],
            now=now,
        )
        if rng.random() < 0.4:
            with contextlib.suppress(RuleViolation):
                book(rng.choice(observers), shift)
    for asker in observers[:3]:
        party = [asker.pk] + ([observers[3].pk] if rng.random() < 0.5 else [])
        request = ask(
            asker,
            station,
            observer_ids=party,
            first=date(2026, 10, 10),
            last=date(2026, 10, 18),
            time_of_day=rng.choice(["day", "night", "any"]),
            now=now,
        )
        found = opens.suggestions(request, now=now)
        for suggestion in found:
            sid = transaction.savepoint()
            opens.place_open_request(actor=lead, request_id=request.pk, shift_id=suggestion.shift.pk, now=now)
            transaction.savepoint_rollback(sid)
        # And what is not suggested would be refused.
        suggested = {s.shift.pk for s in found}
        for shift in Shift.objects.filter(station=station).exclude(pk__in=suggested):
            sid = transaction.savepoint()
            try:
                opens.place_open_request(actor=lead, request_id=request.pk, shift_id=shift.pk, now=now)
            except (RuleViolation, Invalid):
                pass
            else:
                pytest.fail(f"shift {shift.pk} was placeable but not suggested")
            finally:
                transaction.savepoint_rollback(sid)


def test_suggestions_take_a_fixed_number_of_queries(requester, station, now):
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    def build(count):
        for n in range(count):
            medic = make_person(cleared=False)
            make_shift(
                make_resource(station),
                local(2026, 10, 10 + n % 9, 19),
                local(2026, 10, 11 + n % 9, 7),
                crew=[(medic, "paramedic")],
                now=now,
            )

    request = ask(requester, station, now=now)
    build(3)

    counts = []
    for more in (0, 12):
        build(more)
        fresh = OpenRequest.objects.select_related("station").get(pk=request.pk)
        with CaptureQueriesContext(db) as seen:
            found = opens.suggestions(fresh, now=now)
        counts.append((len(found), len(seen.captured_queries)))
    assert counts[0][0] == 3 and counts[1][0] == 15
    assert counts[0][1] == counts[1][1] <= 8, counts


def test_a_request_whose_window_has_passed_lapses_and_the_requester_is_told(requester, station, now):
    from scheduling.delivery import process_due

    request = ask(requester, station, first=date(2026, 10, 10), last=date(2026, 10, 12), now=now)
    process_due(now=local(2026, 10, 9, 23))  # the 12th can still be booked three days ahead
    assert OpenRequest.objects.get(pk=request.pk).status == "open"
    process_due(now=local(2026, 10, 10, 1))
    assert OpenRequest.objects.get(pk=request.pk).status == "lapsed"
    assert Notification.objects.filter(recipient=requester, kind="request_lapsed").exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"), reason="row locks across threads: PostgreSQL"
)
def test_two_leads_placing_two_requests_on_the_last_seat_one_wins(station, lead, resource, now):
    other_lead = make_person("lou", cleared=False)
    station.leads.add(other_lead)
    shift = make_shift(resource, local(2026, 10, 14, 19), local(2026, 10, 15, 7), seats=1, now=now)
    requests = [ask(make_person(requester=True), station, now=now) for _ in range(2)]
    barrier, results = threading.Barrier(2), []

    def place(actor, request):
        barrier.wait()
        try:
            opens.place_open_request(actor=actor, request_id=request.pk, shift_id=shift.pk, now=now)
            results.append("placed")
        except RuleViolation as error:
            results.append(error.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=place, args=pair) for pair in zip([lead, other_lead], requests, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["no_seats", "placed"]
    assert sorted(OpenRequest.objects.values_list("status", flat=True)) == ["open", "placed"]
    assert Shift.objects.get(pk=shift.pk).held_seats == 1


def test_after_a_placement_and_a_decline_the_requester_and_observers_learn_nothing_of_it(
    api, client, requester, mentor, station, lead, crews, now
):
    request = ask(requester, station, observer_ids=[requester.pk, mentor.pk], now=now)
    tried = crews["a"]["shift"]
    opens.place_open_request(actor=lead, request_id=request.pk, shift_id=tried.pk, now=now)
    booking = OpenRequest.objects.get(pk=request.pk).booking
    services.decline_consent(booking_id=booking.pk, actor=crews["a"]["medic"], note="Not tonight", now=now)
    secrets = [tried.resource.call_sign, "Medic A", "medic_a", "Not tonight", f'"shift": {tried.pk}']
    for person in (requester, mentor):
        with time_machine.travel(now, tick=False):
            surfaces = [
                api(person).get("/api/v1/open-requests").content.decode(),
                api(person).get(f"/api/v1/open-requests/{request.pk}").content.decode(),
                api(person).get("/api/v1/bookings").content.decode(),
            ]
            # The e-mail that said where they were placed is theirs, as SPEC §17 has it; nothing since says more.
            export = api(person).get("/api/v1/me/export").json()
            export["notifications"] = [n for n in export["notifications"] if n["kind"] != "request_placed"]
            surfaces.append(json.dumps(export))
            assert api(person).get(f"/api/v1/bookings/{booking.pk}").status_code == 404
            client.force_login(person)
            surfaces.append(client.get("/bookings/").content.decode())
        surfaces += [
            f"{n.subject} {n.body}"
            for n in Notification.objects.filter(recipient=person).exclude(kind="request_placed")
        ]
        for text in surfaces:
            for secret in secrets:
                assert secret not in text, (person.username, secret)
    # Nor is it in their calendars.
    from scheduling.feed import feed_bookings

    for person in (requester, mentor):
        assert booking.pk not in set(feed_bookings(person, now).values_list("pk", flat=True))
    # Its crew and the lead still see it.
    assert api(lead).get(f"/api/v1/bookings/{booking.pk}").status_code == 200
    assert api(crews["a"]["medic"]).get(f"/api/v1/bookings/{booking.pk}").status_code == 200


def test_a_lead_turns_shift_choice_off_on_the_station_settings_page(client, station, lead, outsider):
    client.force_login(outsider)
    assert client.get(f"/lead/stations/{station.pk}/settings/").status_code == 404
    client.force_login(lead)
    page = client.get(f"/lead/stations/{station.pk}/settings/")
    assert page.status_code == 200 and "Observers may choose a shift" in page.content.decode()
    client.post(f"/lead/stations/{station.pk}/settings/", {"auto_place_requests": "on"})
    station.refresh_from_db()
    assert (station.allow_shift_choice, station.auto_place_requests) == (False, True)
