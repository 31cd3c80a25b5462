"""Calendar feed: 1,000 bookings for one person.

Times the full HTTP response when the answer is remembered, when it is worked out (target <= 1.3x
icalendar serialising the same events alone), cold after a restart (events from the database's memo;
target <= 0.7x a django-ical feed of the same events) and the first time ever, and a 304.

    .venv/bin/python bench/feed.py [--bookings 1000] [--rounds 15]
"""

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

from common import django_setup, fresh_database, machine


def timed(fn, rounds, setup=lambda: None):
    setup()
    fn()  # warm-up
    samples = []
    for _ in range(rounds):
        setup()  # not timed
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bookings", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    django_setup(fresh_database("ridealong_bench_feed"))

    from django.test import Client, RequestFactory
    from django.utils import timezone
    from django_ical.views import ICalFeed
    from icalendar import Calendar

    from scheduling import feed, services
    from scheduling.calendar import build_event, forget_remembered_events
    from scheduling.models import FeedEvent, FeedState, Resource, Station

    now = timezone.now()
    station = Station.objects.create(
        code="FEED", name="Loughborough", address="Epinal Way", min_notice_hours=0, crew_hosting_limit=None
    )
    resource = Resource.objects.create(station=station, call_sign="DA12", observer_seats=1)
    person = services.create_person(username="feed", is_requester=True)
    for kind in ("dbs", "confidentiality", "briefing"):
        person.clearances.create(kind=kind, valid_from=datetime(2020, 1, 1).date())
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=6)
    for i in range(args.bookings):
        at = start + timedelta(hours=8 * i)
        shift = services.create_shift(
            actor=None, resource_id=resource.pk, starts_at=at, ends_at=at + timedelta(hours=7), now=now
        )
        services.request_booking(actor=person, shift_id=shift.pk, purpose="Benchmark ride-along", now=now)
    token = services.issue_calendar_token(person=person, now=now)
    path = f"/calendar/{token}.ics"
    client = Client()
    full = client.get(path)
    assert full.content.count(b"BEGIN:VEVENT") == args.bookings, full.status_code
    etag = full["ETag"]

    events = feed.feed_content(person, now).items
    bookings = list(feed.feed_bookings(person, now).select_related("shift__station", "shift__resource").order_by("pk"))

    class DjangoIcalFeed(ICalFeed):
        product_id = "-//Ridealong//bench//EN"
        timezone = "UTC"

        def items(self):
            return bookings

        def item_guid(self, item):
            return str(item.uid)

        def item_title(self, item):
            return f"Ride-along: {item.shift.label}"

        def item_description(self, item):
            return item.purpose

        def item_start_datetime(self, item):
            return item.shift.starts_at

        def item_end_datetime(self, item):
            return item.shift.ends_at

        def item_link(self, item):
            return f"/bookings/{item.pk}/"

        def item_location(self, item):
            return item.shift.station.address

    django_ical_view = DjangoIcalFeed()
    request = RequestFactory().get("/bench.ics")

    t_full = timed(lambda: client.get(path), args.rounds)
    t_304 = timed(lambda: client.get(path, HTTP_IF_NONE_MATCH=etag), args.rounds)

    def icalendar_alone():
        # The same events through icalendar with no memo: a Calendar, every VEVENT, one to_ical().
        cal = Calendar()
        cal.add("prodid", "-//Ridealong//bench//EN")
        cal.add("version", "2.0")
        for item in events:
            cal.add_component(build_event(item))
        return cal.to_ical()

    t_icalendar = timed(icalendar_alone, args.rounds)

    def get():
        return client.get(path)

    def no_answer():  # no remembered answer: the rows read, fingerprinted and serialised
        FeedState.objects.all().delete()

    def restarted():  # and a fresh process: the events come from the database's memo
        no_answer()
        forget_remembered_events()

    def nothing_remembered():  # and no memo anywhere: icalendar serialises every event
        restarted()
        FeedEvent.objects.all().delete()

    t_built = timed(get, args.rounds, no_answer)
    t_cold = timed(get, args.rounds, restarted)
    t_first = timed(get, max(3, args.rounds // 3), nothing_remembered)
    t_django_ical = timed(lambda: django_ical_view(request), args.rounds)
    again = client.get(path)
    assert again.content == full.content and again["ETag"] == etag
    assert client.get(path, HTTP_IF_NONE_MATCH=etag).status_code == 304

    print(f"machine: {machine()}")
    print(f"{args.bookings} bookings, {len(full.content):,} bytes")
    print(f"full HTTP response, remembered:  {t_full * 1000:8.1f} ms  (the answer kept from the last request)")
    print(
        f"full HTTP response, worked out:  {t_built * 1000:8.1f} ms  (rows, fingerprint, bytes; events already "
        f"serialised) -> /icalendar alone = {t_built / t_icalendar:.2f} (target <= 1.3), "
        f"/django-ical = {t_built / t_django_ical:.2f}"
    )
    print(
        f"full HTTP response, cold:        {t_cold * 1000:8.1f} ms  (after a restart: events from the database) "
        f"-> /django-ical = {t_cold / t_django_ical:.2f} (target <= 0.7)"
    )
    print(
        f"full HTTP response, first ever:  {t_first * 1000:8.1f} ms  (every event serialised anew) "
        f"-> /django-ical = {t_first / t_django_ical:.2f}"
    )
    print(f"icalendar serialising alone:     {t_icalendar * 1000:8.1f} ms")
    print(f"django-ical feed, same events:   {t_django_ical * 1000:8.1f} ms")
    print(f"304 Not Modified:                {t_304 * 1000:8.1f} ms  -> worked out/304 = {t_built / t_304:.1f}x")


if __name__ == "__main__":
    main()
