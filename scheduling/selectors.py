"""Reads that more than one caller needs, each scoped to what a person may see (SPEC §1)."""

from datetime import datetime, timedelta

from django.db import connection
from django.db.models import (
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce

from .models import (
    Booking,
    ConsentPreference,
    CrewMember,
    Place,
    PlaceState,
    Shift,
    ShiftStatus,
    Station,
)

MAX_SHIFT = timedelta(hours=24)


def shifts_for_listing() -> QuerySet[Shift]:
    """Shifts as lists show them: station, resource, crew, and what `rules.seats_free` needs."""
    return with_day_held(
        Shift.objects.select_related("station", "resource").prefetch_related(
            Prefetch("crew_members", queryset=CrewMember.objects.order_by("id"))
        )
    )


def day_held_expression():
    """Held places at a shift's station on its local date (what the daily cap counts), as SQL."""
    same_day = (
        Place.objects.filter(
            state=PlaceState.HELD, shift__station_id=OuterRef("station_id"), shift__local_date=OuterRef("local_date")
        )
        .order_by()
        .values("shift__station_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(same_day, output_field=IntegerField()), 0)


def with_day_held(qs: QuerySet[Shift]) -> QuerySet[Shift]:
    """Each shift with `day_held`, so `rules.seats_free` answers a whole page without a query per shift."""
    return qs.annotate(day_held=day_held_expression())


def shifts_overlapping(qs: QuerySet[Shift], start: datetime | None, end: datetime | None) -> QuerySet[Shift]:
    if end is not None:
        qs = qs.filter(starts_at__lt=end)
    if start is not None:
        # A shift lasts at most 24 hours, so the start bound lets the starts_at index do the work.
        qs = qs.filter(ends_at__gt=start, starts_at__gt=start - MAX_SHIFT)
    return qs


def shifts_to_find(qs: QuerySet[Shift], now: datetime) -> QuerySet[Shift]:
    """Upcoming shifts a person could ask to observe, full or closed ones included so the page can say why.

    Shifts with a crew member who never hosts are left out without a reason (SPEC §4).
    """
    never = CrewMember.objects.filter(shift=OuterRef("pk"), person__profile__consent_preference=ConsentPreference.NEVER)
    return qs.filter(starts_at__gt=now, status=ShiftStatus.SCHEDULED, observer_seats__gt=0).exclude(Exists(never))


def why_closed(shift: Shift, now: datetime) -> str:
    """Why a listed shift takes no new request now ("" when it does), in the words of §5.2's own rules."""
    from . import rules

    broken = rules.check_suspension(shift) or rules.check_notice(shift, now)
    return broken[0].detail if broken else ""


def shifts_taking_requests(qs: QuerySet[Shift], now: datetime) -> QuerySet[Shift]:
    """Open to a new request now by notice and suspension (full ones included: they take the waiting list)."""
    earliest = ExpressionWrapper(
        Value(now) + F("station__min_notice_hours") * Value(timedelta(hours=1)), output_field=DateTimeField()
    )
    notice = Q(starts_at__gte=earliest)
    if connection.vendor != "postgresql":
        # SQLite cannot multiply a duration by a column: one condition per station instead.
        notice = Q(pk__in=[])
        for station_id, hours in Station.objects.values_list("pk", "min_notice_hours"):
            notice |= Q(station_id=station_id, starts_at__gte=now + timedelta(hours=hours))
    never = CrewMember.objects.filter(shift=OuterRef("pk"), person__profile__consent_preference=ConsentPreference.NEVER)
    return (
        qs.filter(notice, starts_at__gt=now, status=ShiftStatus.SCHEDULED, observer_seats__gt=0)
        .filter(Q(station__suspended_until__isnull=True) | Q(starts_at__gte=F("station__suspended_until")))
        .exclude(Exists(never))
    )


def shifts_open_now(qs: QuerySet[Shift], now: datetime) -> QuerySet[Shift]:
    """Open to a new request now, with at least one free seat."""
    return (
        shifts_taking_requests(qs, now)
        .filter(held_seats__lt=F("observer_seats"))
        # `rules.seats_free` > 0 in SQL: a free seat, and a free place that day under the station's cap.
        .alias(day_held_now=day_held_expression())
        .filter(
            Q(station__max_observers_per_day__isnull=True) | Q(day_held_now__lt=F("station__max_observers_per_day"))
        )
    )


LOOKUP_LIMIT = 10


def people_matching(text: str) -> list:
    """Active people whose name or username contains `text`, best matches first, at most ten."""
    from django.contrib.auth import get_user_model

    text = text.strip()
    found = (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(Q(username__icontains=text) | Q(profile__name__icontains=text))
        .select_related("profile")
        .order_by("profile__name", "username", "pk")
    )
    return list(found[:LOOKUP_LIMIT])


def learning_log(person, now: datetime) -> list[Booking]:
    """One's past ride-alongs, newest first, with what the log shows prefetched (SPEC §14)."""
    from .models import BookingStatus, Feedback, FollowUp, Reflection

    return list(
        Booking.objects.filter(
            status=BookingStatus.APPROVED,
            places__person=person,
            places__state=PlaceState.HELD,
            shift__ends_at__lte=now,
        )
        .distinct()
        .select_related("shift__station", "shift__resource")
        .prefetch_related(
            Prefetch("reflections", queryset=Reflection.objects.select_related("author__profile").order_by("id")),
            Prefetch("actions", queryset=FollowUp.objects.order_by("due_on", "id")),
            Prefetch("feedback", queryset=Feedback.objects.select_related("author__profile").order_by("id")),
        )
        .order_by("-shift__starts_at", "-id")
    )
