"""The station's numbers for its leads (SPEC §15): hosting load per crew member, ride-alongs per month.

A fixed number of aggregate queries however many bookings or crew there are; the pages and
`GET /api/v1/stations/{id}/report` show the same numbers.
"""

from collections import defaultdict
from datetime import date, datetime, timedelta

from django.db.models import Count
from django.db.models.functions import TruncMonth

from .models import HELD_STATUSES, Booking, CrewMember, display_name
from .rules import HOSTING_WINDOW


def month_starts(last: date, count: int) -> list[date]:
    months, year, month = [], last.year, last.month
    for _ in range(count):
        months.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months[::-1]


def station_report(station, *, start: datetime, end: datetime, now: datetime) -> dict:
    tz = station.tz
    today = now.astimezone(tz).date()
    months = month_starts(today, 12)
    year_ago = datetime.combine(months[0], datetime.min.time(), tz)

    # Every crew member rostered at the station in the last year or the next 28 days.
    crew = (
        CrewMember.objects.filter(
            shift__station=station, shift__starts_at__gte=year_ago, shift__starts_at__lt=now + HOSTING_WINDOW
        )
        .values_list("person_id", flat=True)
        .distinct()
    )
    hosted = Booking.objects.filter(
        status__in=HELD_STATUSES,
        shift__station=station,
        shift__crew_members__active=True,
        shift__starts_at__gte=year_ago,
        shift__starts_at__lt=now + HOSTING_WINDOW,
    ).values_list("shift__crew_members__person_id", "shift__starts_at")
    window = defaultdict(int)
    per_month: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for person_id, starts_at in hosted:
        if now <= starts_at < now + HOSTING_WINDOW:
            window[person_id] += 1
        if starts_at < now:
            per_month[person_id][starts_at.astimezone(tz).strftime("%Y-%m")] += 1
    from django.contrib.auth import get_user_model

    people = {p.pk: p for p in get_user_model().objects.filter(pk__in=list(crew)).select_related("profile")}
    limit = station.crew_hosting_limit
    hosting = sorted(
        (
            {
                "person": person_id,
                "name": display_name(person),
                "next_28_days": window[person_id],
                "limit": limit,
                "by_month": [
                    {"month": m.strftime("%Y-%m"), "count": per_month[person_id][m.strftime("%Y-%m")]} for m in months
                ],
            }
            for person_id, person in people.items()
        ),
        key=lambda row: (-row["next_28_days"], row["name"]),
    )

    rows = (
        Booking.objects.filter(shift__station=station, shift__starts_at__gte=start, shift__starts_at__lt=end)
        .annotate(month=TruncMonth("shift__starts_at", tzinfo=tz))
        .values("month", "status", "outcome")
        .annotate(n=Count("id"))
    )
    by_month: dict[str, dict[str, int]] = {}
    for row in rows:
        key = row["month"].strftime("%Y-%m")
        counts = by_month.setdefault(key, defaultdict(int))
        counts[row["status"]] += row["n"]
        if row["outcome"]:
            counts[row["outcome"]] += row["n"]
    states = ["pending", "approved", "waitlisted", "declined", "cancelled", "expired"]
    outcomes = ["attended", "ended_early", "no_show"]
    return {
        "station": station.pk,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "crew_hosting_limit": limit,
        "hosting": hosting,
        "ride_alongs_by_month": [
            {"month": month, **{k: by_month[month].get(k, 0) for k in states + outcomes}} for month in sorted(by_month)
        ],
    }


def default_range(station, now: datetime) -> tuple[datetime, datetime]:
    """The last twelve months and the next one, in the station's time."""
    tz = station.tz
    months = month_starts(now.astimezone(tz).date(), 12)
    start = datetime.combine(months[0], datetime.min.time(), tz)
    nxt = (now.astimezone(tz).date().replace(day=28) + timedelta(days=4)).replace(day=1)
    end = datetime.combine((nxt.replace(day=28) + timedelta(days=4)).replace(day=1), datetime.min.time(), tz)
    return start, end
