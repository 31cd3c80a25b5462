"""Programmes (SPEC §18): what counts, progress states on fixed dates, who sees what, and left_at (§5.1)."""

from datetime import date, timedelta

import pytest
import time_machine

from scheduling import services
from scheduling.errors import Invalid
from scheduling.models import Booking
from scheduling.services import programmes as progs
from tests.factories import local, make_person, make_resource, make_shift, make_station


@pytest.fixture
def ride(station, lead):
    """A ride-along that went ahead for `person`: its own ambulance and standing-consent crew, approved,
    its outcome recorded once the shift ended."""

    def _ride(person, starts, ends, *, outcome="attended", left_at=None, at=None):
        resource = make_resource(at or station)
        medic = make_person(preference="always", cleared=False)
        before = starts - timedelta(days=4)
        shift = make_shift(resource, starts, ends, crew=[(medic, "paramedic")], now=before)
        booking = services.request_booking(
            actor=person, shift_id=shift.pk, purpose="To see how handovers go", now=before
        )
        leader = lead if (at or station) == station else (at or station).leads.first()
        services.approve_booking(booking_id=booking.pk, actor=leader, now=before)
        services.record_outcome(booking_id=booking.pk, actor=medic, outcome=outcome, left_at=left_at, now=ends)
        return Booking.objects.get(pk=booking.pk)

    return _ride


@pytest.fixture
def scheme(admin_user, requester, mentor, now):
    coordinator = make_person("cora", name="Cora Coordinator", cleared=False)
    return progs.create_programme(
        actor=admin_user,
        now=now,
        name="Graduate scheme",
        starts_on=date(2026, 10, 1),
        ends_on=date(2026, 12, 31),
        coordinators=[coordinator.pk],
        members=[requester.pk, mentor.pk],
        target_ride_alongs=4,
        target_nights=2,
        target_hours=40,
        target_stations=2,
    )


def row_for(programme, person, today):
    return progs.progress_rows(programme, [person], today=today)[0]


def test_a_ride_along_late_on_the_last_day_counts_and_one_just_after_does_not(ride, scheme, requester, mentor):
    ride(requester, local(2026, 12, 31, 23, 59), local(2027, 1, 1, 7))
    ride(mentor, local(2027, 1, 1, 0, 0), local(2027, 1, 1, 8))
    assert row_for(scheme, requester, date(2026, 12, 31))["ride_alongs"]["done"] == 1
    assert row_for(scheme, mentor, date(2026, 12, 31))["ride_alongs"]["done"] == 0


def test_hours_are_real_elapsed_time_over_both_clock_changes_and_to_left_at(ride, admin_user, requester, now):
    programme = progs.create_programme(
        actor=admin_user,
        now=now,
        name="Year",
        starts_on=date(2026, 10, 1),
        ends_on=date(2027, 6, 30),
        members=[requester.pk],
        target_hours=100,
    )
    ride(requester, local(2026, 10, 24, 19), local(2026, 10, 25, 7))  # autumn: 13 hours
    assert row_for(programme, requester, date(2026, 11, 1))["hours"]["done"] == 13.0
    ride(requester, local(2027, 3, 27, 19), local(2027, 3, 28, 7))  # spring: 11 hours
    assert row_for(programme, requester, date(2027, 4, 1))["hours"]["done"] == 24.0
    ride(
        requester,
        local(2027, 4, 10, 7),
        local(2027, 4, 10, 19),
        outcome="ended_early",
        left_at=local(2027, 4, 10, 9, 30),
    )
    assert row_for(programme, requester, date(2027, 4, 11))["hours"]["done"] == 26.5


def test_a_day_shift_crossing_midnight_is_a_night_and_a_member_who_left_does_not_count(
    ride, scheme, requester, mentor, station, lead
):
    ride(requester, local(2026, 10, 14, 15), local(2026, 10, 15, 1))
    assert row_for(scheme, requester, date(2026, 10, 20))["nights"]["done"] == 1
    # Mo's place was given up before the shift: his ride-along does not count, Rachel's does.
    medic = make_person(preference="always", cleared=False)
    start = local(2026, 10, 20, 7)
    shift = make_shift(
        make_resource(station),
        start,
        start + timedelta(hours=12),
        crew=[(medic, "paramedic")],
        now=start - timedelta(days=5),
    )
    booking = services.request_booking(
        actor=requester,
        shift_id=shift.pk,
        observer_ids=[requester.pk, mentor.pk],
        purpose="Both",
        now=start - timedelta(days=5),
    )
    services.approve_booking(booking_id=booking.pk, actor=lead, now=start - timedelta(days=5))
    services.cancel_booking(booking_id=booking.pk, actor=mentor, now=start - timedelta(days=1))
    services.record_outcome(booking_id=booking.pk, actor=medic, outcome="attended", now=start + timedelta(hours=12))
    assert row_for(scheme, mentor, date(2026, 10, 25))["ride_alongs"]["done"] == 0
    assert row_for(scheme, requester, date(2026, 10, 25))["ride_alongs"]["done"] == 2


def test_no_show_does_not_count(ride, scheme, requester):
    ride(requester, local(2026, 10, 14, 7), local(2026, 10, 14, 19), outcome="no_show")
    assert row_for(scheme, requester, date(2026, 10, 20))["ride_alongs"]["done"] == 0


def test_progress_states_on_fixed_dates(ride, scheme, requester, station):
    # 92 days, 1 Oct to 31 Dec. Before the start: not started, whatever is done.
    assert row_for(scheme, requester, date(2026, 9, 30))["state"] == "not_started"
    ride(requester, local(2026, 10, 10, 7), local(2026, 10, 10, 19))
    # On 24 Nov 54 of 92 days have gone by: the line for 4 ride-alongs is 2.35, so 1 is behind, 3 on track.
    today = date(2026, 11, 24)
    assert row_for(scheme, requester, today)["ride_alongs"]["state"] == "behind"
    # The on_track line exactly: 23 of 92 days gone (23 Oct) makes the line for 4 exactly 1.0.
    assert progs.share_gone(scheme, date(2026, 10, 24)) * 4 == 1.0
    assert row_for(scheme, requester, date(2026, 10, 24))["ride_alongs"]["state"] == "on_track"
    assert row_for(scheme, requester, date(2026, 10, 25))["ride_alongs"]["state"] == "behind"
    for day in (11, 12, 13):
        ride(requester, local(2026, 10, day + 5, 7), local(2026, 10, day + 5, 19))
    row = row_for(scheme, requester, today)
    assert row["ride_alongs"] == {"done": 4, "target": 4, "state": "met"}
    assert row["stations"]["state"] == "behind" and row["state"] == "behind"  # the worst measure
    other = make_station("MEL", leads=[make_person(cleared=False)])
    ride(requester, local(2026, 11, 2, 19), local(2026, 11, 3, 7), at=other)
    ride(requester, local(2026, 11, 4, 19), local(2026, 11, 5, 7))
    row = row_for(scheme, requester, today)
    assert (row["stations"]["state"], row["nights"]["state"], row["hours"]["state"]) == ("met", "met", "met")
    assert row["state"] == "met"


def test_a_measure_with_no_target_has_no_state(admin_user, requester, now):
    bare = progs.create_programme(
        actor=admin_user,
        now=now,
        name="Open",
        starts_on=date(2026, 10, 1),
        ends_on=date(2026, 10, 31),
        members=[requester.pk],
        target_nights=1,
    )
    row = row_for(bare, requester, date(2026, 10, 15))
    assert row["ride_alongs"] == {"done": 0, "target": None, "state": None}
    assert row["state"] == "behind"


def test_who_sees_a_programme(api, scheme, requester, mentor, lead, admin_user, now):
    coordinator = scheme.coordinators.get()
    elsewhere = progs.create_programme(
        actor=admin_user,
        now=now,
        name="Other",
        starts_on=date(2026, 10, 1),
        ends_on=date(2026, 12, 31),
        coordinators=[make_person("oz", cleared=False).pk],
    ).coordinators.get()
    paths = [f"/api/v1/programmes/{scheme.pk}", f"/api/v1/programmes/{scheme.pk}/progress"]
    for person, status in ((coordinator, 200), (admin_user, 200), (requester, 404), (lead, 404), (elsewhere, 404)):
        for path in paths:
            assert api(person).get(path).status_code == status, (person.username, path)
    mine = api(requester).get("/api/v1/me/programmes").json()
    assert [p["programme"]["id"] for p in mine] == [scheme.pk] and "members" not in mine[0]["programme"]
    assert mine[0]["progress"]["person"]["id"] == requester.pk
    assert api(lead).get("/api/v1/me/programmes").json() == []
    # Members: coordinators and admins add and remove them; a member cannot.
    newcomer = make_person("nia", requester=True)
    assert (
        api(requester)
        .post(f"/api/v1/programmes/{scheme.pk}/members", {"person": newcomer.pk}, format="json")
        .status_code
        == 404
    )
    added = api(coordinator).post(f"/api/v1/programmes/{scheme.pk}/members", {"person": newcomer.pk}, format="json")
    assert added.status_code == 200 and newcomer.pk in added.json()["members"]
    assert api(coordinator).delete(f"/api/v1/programmes/{scheme.pk}/members/{newcomer.pk}").status_code == 204
    # Only admins make and change programmes.
    body = {"name": "New", "starts_on": "2026-10-01", "ends_on": "2026-10-31"}
    assert api(coordinator).post("/api/v1/programmes", body, format="json").status_code == 403
    made = api(admin_user).post("/api/v1/programmes", body, format="json")
    assert made.status_code == 201 and made["Location"].endswith(f"/programmes/{made.json()['id']}")
    assert api(coordinator).patch(f"/api/v1/programmes/{scheme.pk}", {"name": "X"}, format="json").status_code == 403
    bad = api(admin_user).post("/api/v1/programmes", {**body, "ends_on": "2026-09-01"}, format="json")
    assert bad.status_code == 400 and "ends_on" in bad.json()["fields"]


def test_the_progress_endpoint_takes_a_fixed_number_of_queries(
    api, ride, scheme, requester, django_assert_max_num_queries
):
    coordinator = scheme.coordinators.get()
    ride(requester, local(2026, 10, 10, 7), local(2026, 10, 10, 19))
    counts = []
    for extra in (0, 12):
        for n in range(extra):
            person = make_person(requester=True)
            scheme.members.add(person)
            ride(person, local(2026, 10, 12, 7) + timedelta(days=n), local(2026, 10, 12, 19) + timedelta(days=n))
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        api(coordinator).get(f"/api/v1/programmes/{scheme.pk}/progress")  # warm: once-only lookups are done
        with CaptureQueriesContext(connection) as seen:
            answer = api(coordinator).get(f"/api/v1/programmes/{scheme.pk}/progress")
        assert answer.status_code == 200
        counts.append((answer.json()["count"], len(seen.captured_queries)))
    assert counts[0][0] == 2 and counts[1][0] == 14 and counts[0][1] == counts[1][1], counts


def test_ended_early_needs_left_at_within_the_shift(api, requester, lead, night, book, paramedic, now):
    booking = book(requester, night)
    services.give_consent(booking_id=booking.pk, actor=paramedic, now=now)
    services.approve_booking(booking_id=booking.pk, actor=lead, now=now)
    with time_machine.travel(night.ends_at + timedelta(hours=1), tick=False):
        url = f"/api/v1/bookings/{booking.pk}/outcome"
        missing = api(lead).post(url, {"outcome": "ended_early"}, format="json")
        assert missing.status_code == 400 and "left_at" in missing.json()["fields"]
        outside = api(lead).post(url, {"outcome": "ended_early", "left_at": night.ends_at.isoformat()}, format="json")
        assert outside.status_code == 400 and "left_at" in outside.json()["fields"]
        naive = api(lead).post(url, {"outcome": "ended_early", "left_at": "2026-10-11T02:00:00"}, format="json")
        assert naive.status_code == 400
        left = (night.starts_at + timedelta(hours=5)).isoformat()
        done = api(lead).post(url, {"outcome": "ended_early", "left_at": left}, format="json")
    assert done.status_code == 200 and done.json()["left_at"] == "2026-10-11T00:00:00+01:00"
    assert Booking.objects.get(pk=booking.pk).outcome == "ended_early"
    with pytest.raises(Invalid):
        services.record_outcome(booking_id=booking.pk, actor=lead, outcome="ended_early", now=night.ends_at)


def test_nudges_on_the_first_of_the_month_once_and_not_after_opting_out(smtp, api, scheme, requester, mentor):
    from scheduling.delivery import deliver_batch, process_due

    coordinator = scheme.coordinators.get()

    def run(at):
        process_due(now=at)
        while deliver_batch(now=at)[0]:
            pass

    run(local(2026, 11, 1, 9))
    mine = smtp.to(requester.email)
    assert len(mine) == 1 and "targets" in mine[0]["Subject"]
    text = mine[0].get_body(("plain",)).get_content()
    assert "4 more ride-alongs" in text and "/ask/" in text and "/shifts/" in text
    summary = smtp.to(coordinator.email)
    assert len(summary) == 1 and "Rachel Requester" in summary[0].get_body(("plain",)).get_content()
    run(local(2026, 11, 1, 18))  # the same day again: nothing new
    run(local(2026, 11, 2, 9))  # not the 1st
    assert len(smtp.to(requester.email)) == 1 and len(smtp.to(coordinator.email)) == 1
    api(mentor).patch("/api/v1/me", {"reminders": False}, format="json")
    run(local(2026, 12, 1, 9))
    assert len(smtp.to(requester.email)) == 2 and not smtp.to(mentor.email)[1:]
    assert len(smtp.to(coordinator.email)) == 2


def _nudged(person):
    from scheduling.delivery import process_due
    from scheduling.models import Notification

    process_due(now=local(2026, 11, 1, 9))
    return Notification.objects.filter(recipient=person, kind="programme_summary")


def test_the_coordinators_pages_show_numbers_and_no_crew_purpose_or_reflection(
    api, client, ride, scheme, requester, paramedic
):
    booking = ride(requester, local(2026, 10, 10, 7), local(2026, 10, 10, 19))
    services.after.save_reflection(
        person=requester, booking=booking, text="My private thoughts", shared=False, now=local(2026, 10, 10, 20)
    )
    services.update_person(person=requester, now=local(2026, 10, 11), name="=HYPERLINK(1)")
    coordinator = scheme.coordinators.get()
    client.force_login(coordinator)
    page = client.get(f"/programmes/{scheme.pk}/").content.decode()
    csv_text = client.get(f"/programmes/{scheme.pk}/progress.csv").content.decode()
    assert "1 / 4" in page and "Target met" not in page
    assert "'=HYPERLINK(1)" in csv_text and "\n=HYPERLINK" not in csv_text
    medic = booking.shift.crew_members.get().person
    for text in (page, csv_text):
        for secret in ("handovers", "My private thoughts", medic.username, medic.profile.name):
            assert secret not in text
    as_json = api(coordinator).get(f"/api/v1/programmes/{scheme.pk}/progress").content.decode()
    summary = [n.body for n in _nudged(coordinator)]
    for text in (as_json, *summary):
        for secret in ("handovers", "My private thoughts", medic.username, medic.profile.name, "paramedic"):
            assert secret not in text
    client.force_login(requester)
    assert client.get(f"/programmes/{scheme.pk}/").status_code == 404
    log = client.get("/learning/").content.decode()
    assert "Graduate scheme" in log and "1 / 4" in log


def test_the_programme_page_takes_a_fixed_number_of_queries(client, ride, scheme, requester):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    coordinator = scheme.coordinators.get()
    client.force_login(coordinator)
    ride(requester, local(2026, 10, 10, 7), local(2026, 10, 10, 19))
    counts = []
    for extra in (0, 10):
        for n in range(extra):
            person = make_person(requester=True)
            scheme.members.add(person)
            ride(person, local(2026, 10, 12, 7) + timedelta(days=n), local(2026, 10, 12, 19) + timedelta(days=n))
        with CaptureQueriesContext(connection) as seen:
            assert client.get(f"/programmes/{scheme.pk}/").status_code == 200
        counts.append(len(seen.captured_queries))
    assert counts[0] == counts[1], counts
