"""The lead's station view (SPEC §15): bookings by date and state, waiting lists, hosting load, clearances."""

import csv
from datetime import datetime, time, timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .. import access, dates, rules, services
from ..errors import BookingError
from ..models import Booking, BookingStatus, Clearance, Place, PlaceState, Station, display_name
from ..reports import default_range, station_report
from .forms import ClearanceForm, StationBookingsForm
from .present import STATES

User = get_user_model()
PAGE = 50
CLEARANCE_WORDS = rules.CLEARANCE_WORDS


def _station_for(request, station_id) -> Station | None:
    """The station if the reader leads it (or is an admin); None means 404."""
    station = Station.objects.filter(pk=station_id).first()
    if station is None or not access.leads_or_admin(request.user, station.pk):
        return None
    return station


def _not_found(request):
    return render(request, "web/not_found.html", status=404)


@login_required
def stations(request):
    person = request.user
    qs = Station.objects.order_by("name")
    if not access.is_admin(person):
        qs = qs.filter(pk__in=access.lead_station_ids(person))
    return render(request, "web/lead/stations.html", {"stations": list(qs)})


def safe_cell(value) -> str:
    """Spreadsheets run cells that start with = + - @ as formulas: quote them (SPEC §15)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@login_required
def bookings(request, station_id):
    station = _station_for(request, station_id)
    if station is None:
        return _not_found(request)
    tz = station.tz
    today = timezone.now().astimezone(tz).date()
    form = StationBookingsForm(request.GET or None, station=station)
    qs = (
        Booking.objects.filter(shift__station=station)
        .select_related("shift__resource", "shift__station", "requested_by__profile")
        .prefetch_related("places__person__profile")
        .order_by("shift__starts_at", "id")
    )
    start, end = today - timedelta(days=7), today + timedelta(days=28)
    if form.is_valid():
        data = form.cleaned_data
        start, end = data["date_from"] or start, data["date_to"] or end
        if data["status"]:
            qs = qs.filter(status=data["status"])
        if data["resource"]:
            qs = qs.filter(shift__resource=data["resource"])
        if data["observer"]:
            text = data["observer"]
            qs = qs.filter(
                Q(places__person__username__icontains=text) | Q(places__person__profile__name__icontains=text)
            ).distinct()
    qs = qs.filter(
        shift__starts_at__lt=datetime.combine(end + timedelta(days=1), time.min, tz),
        shift__ends_at__gt=datetime.combine(start, time.min, tz),
    )
    if request.GET.get("format") == "csv":
        return _csv(station, qs)
    page = Paginator(qs, PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "web/lead/bookings.html",
        {
            "station": station,
            "form": form,
            "page": page,
            "rows": [
                (b, STATES[b.status], [p for p in b.places.all() if p.state != PlaceState.RELEASED]) for b in page
            ],
            "range": (start, end),
            "query": query.urlencode(),
        },
    )


def _csv(station, qs):
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{station.code.lower()}-bookings.csv"'
    writer = csv.writer(response)
    writer.writerow(["booking", "shift", "starts", "ends", "status", "outcome", "requested by", "observers", "purpose"])
    tz = station.tz
    for b in qs.iterator(chunk_size=500):
        writer.writerow(
            [
                b.pk,
                safe_cell(b.shift.label),
                b.shift.starts_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                b.shift.ends_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                b.status,
                b.outcome,
                safe_cell(display_name(b.requested_by)),
                safe_cell("; ".join(display_name(p.person) for p in b.places.all() if p.state != PlaceState.RELEASED)),
                safe_cell(b.purpose),
            ]
        )
    return response


@login_required
def waiting_list(request, station_id):
    """Each shift's waiting list in the order SPEC §5 promotes it: oldest first."""
    station = _station_for(request, station_id)
    if station is None:
        return _not_found(request)
    waiting = (
        Booking.objects.filter(
            shift__station=station, status=BookingStatus.WAITLISTED, shift__starts_at__gt=timezone.now()
        )
        .select_related("shift__resource", "shift__station", "requested_by__profile")
        .prefetch_related("places__person__profile")
        .order_by("shift__starts_at", "shift_id", "created_at", "id")
    )
    shifts: dict[int, dict] = {}
    for booking in waiting:
        entry = shifts.setdefault(booking.shift_id, {"shift": booking.shift, "bookings": []})
        entry["bookings"].append((booking, [p.person for p in booking.places.all() if p.state != PlaceState.RELEASED]))
    return render(request, "web/lead/waiting.html", {"station": station, "shifts": list(shifts.values())})


def bars(rows: list[tuple[str, int]], *, limit: int | None = None, width: int = 110) -> dict:
    """An SVG bar chart drawn on the server: one bar a row, the limit as a line. Drawn 280 units wide
    (labels 150, bars up to 110, the count after), so on a 320 px phone its 12-unit text is 12 px or more."""
    top = max([count for _, count in rows] + [limit or 0, 1])
    step = 22
    return {
        "width": width + 10,
        "height": step * len(rows) + 10,
        "bars": [
            {
                "label": label,
                "count": count,
                "y": 5 + i * step,
                "w": round(width * count / top),
                "text_y": 5 + i * step + 14,
            }
            for i, (label, count) in enumerate(rows)
        ],
        "limit_x": round(width * limit / top) if limit else None,
    }


@login_required
def report(request, station_id):
    station = _station_for(request, station_id)
    if station is None:
        return _not_found(request)
    now = timezone.now()
    start, end = default_range(station, now)
    data = station_report(station, start=start, end=end, now=now)
    hosting = data["hosting"]
    months = data["ride_alongs_by_month"]
    return render(
        request,
        "web/lead/report.html",
        {
            "station": station,
            "report": data,
            "hosting_chart": bars(
                [(row["name"], row["next_28_days"]) for row in hosting], limit=station.crew_hosting_limit
            ),
            "month_chart": bars([(dates.month(m["month"]), m["approved"]) for m in months]),
            "hosting": hosting,
            "months": months,
        },
    )


@login_required
def clearances(request, station_id):
    """Record or renew a clearance; see who has a booking here that their clearance will not cover."""
    station = _station_for(request, station_id)
    if station is None:
        return _not_found(request)
    form = ClearanceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.add_clearance(
                actor=request.user,
                person=data["person"],
                kind=data["kind"],
                valid_from=data["valid_from"],
                valid_until=data["valid_until"],
                reference=data["reference"],
                now=timezone.now(),
            )
        except BookingError as error:
            form.add_error("person", error.detail)
        else:
            messages.success(
                request,
                gettext("Recorded %(what)s for %(name)s.")
                % {"what": CLEARANCE_WORDS.get(data["kind"], data["kind"]), "name": display_name(data["person"])},
            )
            return redirect("web:lead-clearances", station_id=station.pk)
    return render(
        request,
        "web/lead/clearances.html",
        {"station": station, "form": form, "uncovered": _uncovered(station), "ending": _ending_soon(station)},
        status=400 if form.errors else 200,
    )


def _uncovered(station) -> list[dict]:
    """Observers with a live booking here whose clearances do not cover the shift."""
    places = list(
        Place.objects.filter(
            shift__station=station,
            state__in=[PlaceState.HELD, PlaceState.WAITLISTED],
            shift__starts_at__gt=timezone.now(),
        )
        .select_related("person__profile", "shift__station", "shift__resource", "booking")
        .order_by("shift__starts_at", "id")
    )
    held = {}
    for clearance in Clearance.objects.filter(person__in={p.person_id for p in places}):
        held.setdefault(clearance.person_id, []).append(clearance)
    found = []
    for place in places:
        broken = rules.check_clearances(place.shift, [place.person], held.get(place.person_id, []))
        if broken:
            kind = broken[0].data.get("kind", "")
            found.append({"place": place, "what": CLEARANCE_WORDS.get(kind, kind), "code": broken[0].code})
    return found


def _ending_soon(station) -> list[Clearance]:
    """Clearances ending within 30 days of people with a live booking at the station (SPEC §19)."""
    today = timezone.localdate()
    people = Place.objects.filter(
        shift__station=station, state__in=[PlaceState.HELD, PlaceState.WAITLISTED], shift__starts_at__gt=timezone.now()
    ).values("person_id")
    return list(
        Clearance.objects.filter(
            person_id__in=people, valid_until__gte=today, valid_until__lte=today + timedelta(days=30)
        )
        .select_related("person__profile")
        .order_by("valid_until", "person_id", "kind")
    )


class PlacingForm(forms.Form):
    allow_shift_choice = forms.BooleanField(required=False, label=_("Observers may choose a shift"))
    auto_place_requests = forms.BooleanField(
        required=False, label=_("Place requests for a date at once, on the fairest shift")
    )


@login_required
def settings_page(request, station_id):
    """How the station takes observers (SPEC §17): by the shift they choose, or by a date it places."""
    station = _station_for(request, station_id)
    if station is None:
        return _not_found(request)
    initial = {"allow_shift_choice": station.allow_shift_choice, "auto_place_requests": station.auto_place_requests}
    form = PlacingForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        changed = {k: v for k, v in form.cleaned_data.items() if v != initial[k]}
        try:
            services.update_station(actor=request.user, station_id=station.pk, now=timezone.now(), **changed)
        except BookingError as error:
            messages.error(request, error.detail)
        else:
            messages.success(request, _("Settings saved."))
            return redirect("web:lead-settings", station_id=station.pk)
    return render(request, "web/lead/settings.html", {"station": station, "form": form})
