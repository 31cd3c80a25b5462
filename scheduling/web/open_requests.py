"""Asking for a date, and the lead's open requests (SPEC §17): thin views over services/open_requests.py."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from .. import access
from ..errors import BookingError
from ..models import OpenRequestStatus
from ..services import open_requests
from .forms import AskDateForm, ReasonForm


@login_required
def ask_for_a_date(request):
    if not access.may_request(request.user):
        return render(request, "web/not_found.html", status=404)
    initial = {"include_me": True, "station": request.GET.get("station") or None}
    form = AskDateForm(request.POST or None, requester=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            made = open_requests.create_open_request(
                actor=request.user,
                station_id=data["station"].pk,
                from_date=data["date_from"],
                to_date=data["date_to"],
                time_of_day=data["time_of_day"],
                resource_kind=data["resource_kind"] or None,
                observer_ids=data["observer_ids"],
                purpose=data["purpose"],
                now=timezone.now(),
            )
        except BookingError as error:
            mapping = {"observers": "others", "from_date": "date_from", "to_date": "date_to"}
            for name, problems in (error.fields or {}).items():
                form.add_error(mapping.get(name, name) if mapping.get(name, name) in form.fields else None, problems[0])
            if not error.fields:
                form.add_error(None, error.detail)
        else:
            if made.status == OpenRequestStatus.PLACED:
                messages.success(request, _("Your request is placed on a shift. The crew are being asked to host you."))
            else:
                messages.success(request, _("Request sent. The station will place you on a shift and tell you which."))
            return redirect("web:bookings")
    return render(request, "web/ask_date.html", {"form": form})


@login_required
def station_requests(request):
    """The open requests of the reader's stations, each with its fairest shifts to place it on."""
    person = request.user
    if not (access.lead_station_ids(person) or access.is_admin(person)):
        return render(request, "web/not_found.html", status=404)
    now = timezone.now()
    waiting = list(
        access.open_requests_visible_to(person)
        .filter(status=OpenRequestStatus.OPEN)
        .select_related("requested_by__profile")
        .order_by("created_at", "id")[:50]
    )
    rows = [
        (r, open_requests.suggestions(r, now=now) if access.leads_or_admin(person, r.station_id) else [])
        for r in waiting
        if access.leads_or_admin(person, r.station_id)
    ]
    return render(request, "web/lead/requests.html", {"rows": rows, "reason_form": ReasonForm()})


@require_POST
@login_required
def place(request, pk):
    found = access.access_open_request(request.user, pk, suggestions=True)
    try:
        open_requests.place_open_request(
            actor=request.user, request_id=found.pk, shift_id=int(request.POST.get("shift", 0)), now=timezone.now()
        )
    except (BookingError, ValueError) as error:
        messages.error(request, getattr(error, "detail", _("Choose a shift from the list.")))
    else:
        messages.success(request, _("Placed. The crew have been asked to host the observers."))
    return redirect("web:station-requests")


@require_POST
@login_required
def close(request, pk):
    found = access.access_open_request(request.user, pk, suggestions=True)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Enter why you are closing the request"))
        return redirect("web:station-requests")
    try:
        open_requests.close_open_request(
            actor=request.user, request_id=found.pk, reason=form.cleaned_data["reason"], now=timezone.now()
        )
    except BookingError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, _("The request is closed and the requester has been told why."))
    return redirect("web:station-requests")


@require_POST
@login_required
def withdraw(request, pk):
    found = access.access_open_request(request.user, pk)
    try:
        open_requests.withdraw_open_request(actor=request.user, request_id=found.pk, now=timezone.now())
    except BookingError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, _("Your request is withdrawn."))
    return redirect("web:bookings")
