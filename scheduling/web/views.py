"""Server-rendered pages (SPEC §10): thin views over the same services and selectors as the API."""

import time as clock

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from .. import access, rules, selectors, services
from ..access import is_admin, lead_station_ids
from ..calendar import build_feed, calendar_urls
from ..errors import BookingError, NotFound
from ..models import (
    LIVE_STATUSES,
    AuditEvent,
    Booking,
    BookingStatus,
    CalendarToken,
    ConsentState,
    PlaceState,
    display_name,
)
from ..services import accounts, after
from . import present
from . import programmes as programme_pages
from .forms import (
    ActionForm,
    ApiTokenForm,
    BookingRequestForm,
    ConsentForm,
    FeedbackForm,
    OptionalReasonForm,
    PreferenceForm,
    ReasonForm,
    ReflectionForm,
    ShiftSearchForm,
)

# Rule codes about a particular observer are shown next to the observers field.
OBSERVER_CODES = {
    "observer_is_crew",
    "duplicate_booking",
    "observer_overlap",
    "clearance_missing",
    "clearance_expired",
    "observer_too_young",
    "observer_limit",
}


def _now():
    return timezone.now()


@login_required
def home(request):
    person = request.user
    context = {
        "is_lead": bool(lead_station_ids(person)) or is_admin(person),
        "is_crew": person.crew_places.exists(),
        "is_requester": person.profile.is_requester,
        "counts": {
            "mine": access.bookings_visible_to(person).filter(requested_by=person, status__in=LIVE_STATUSES).count(),
            "queue": _queue(person).count(),
            "inbox": _inbox(person).filter(consents__state=ConsentState.PENDING, consents__person=person).count(),
        },
    }
    return render(request, "web/home.html", context)


SHIFTS_PER_PAGE = 40


@login_required
def find_shifts(request):
    """Upcoming shifts grouped by day and paginated: open, full (with the waiting list) or closed, and why."""
    now = _now()
    form = ShiftSearchForm(request.GET or None)
    qs = selectors.shifts_to_find(selectors.shifts_for_listing(), now)
    if not (form.is_valid() and form.cleaned_data["show_closed"]):
        # By default only what the reader could ask for now (SPEC §10); full shifts take the waiting list.
        qs = selectors.shifts_taking_requests(qs, now)
    if form.is_valid():
        data = form.cleaned_data
        if data["station"]:
            qs = qs.filter(station=data["station"])
        # By the local date a shift starts on (SPEC §10): a night belongs to the evening it starts.
        if data["date_from"]:
            qs = qs.filter(local_date__gte=data["date_from"])
        if data["date_to"]:
            qs = qs.filter(local_date__lte=data["date_to"])
        if data["time_of_day"]:
            # The one night rule, kept on each shift in its station's zone (models.is_night).
            qs = qs.filter(is_night=data["time_of_day"] == "night")
    page = Paginator(qs.order_by("starts_at", "id"), SHIFTS_PER_PAGE).get_page(request.GET.get("page"))
    days: dict = {}
    for shift in page:
        shift.seats_free = rules.seats_free(shift)
        shift.closed = selectors.why_closed(shift, now)
        shift.roles = [c.get_role_display() for c in shift.crew_members.all() if c.active]
        days.setdefault(shift.local_starts_at.date(), []).append(shift)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "days": sorted(days.items()),
        "page": page,
        "query": query.urlencode(),
        "may_request": access.may_request(request.user),
    }
    return render(request, "web/shifts.html", context)


@login_required
def request_booking(request, shift_id):
    shift = selectors.shifts_for_listing().filter(pk=shift_id).first()
    if shift is None:
        return render(request, "web/not_found.html", status=404)
    shift.seats_free = rules.seats_free(shift)
    if not request.user.profile.is_requester:
        messages.error(request, gettext("Only requesters can ask for ride-alongs. Ask an admin to make you one."))
        return redirect("web:shifts")
    form = BookingRequestForm(
        request.POST or None, requester=request.user, initial={"include_me": True, "allow_waitlist": True}
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            booking = services.request_booking(
                actor=request.user,
                shift_id=shift.pk,
                observer_ids=data["observer_ids"],
                purpose=data["purpose"],
                allow_waitlist=data["allow_waitlist"],
                now=_now(),
            )
        except BookingError as error:
            _attach(form, error)
        else:
            if booking.status == BookingStatus.WAITLISTED:
                messages.info(request, gettext("The shift is full, so your request is on the waiting list."))
            else:
                messages.success(request, gettext("Request sent. The crew and the station lead have been asked."))
            return redirect("web:booking", pk=booking.pk)
    return render(request, "web/request.html", {"form": form, "shift": shift})


def _attach(form, error: BookingError) -> None:
    """Put a service's error next to the field it concerns, or at the top of the form."""
    if error.fields:
        mapping = {"observers": "others", "purpose": "purpose"}
        for name, problems in error.fields.items():
            form.add_error(mapping.get(name), problems[0] if isinstance(problems, list) else str(problems))
    elif error.code in OBSERVER_CODES:
        form.add_error("others", error.detail)
    else:
        form.add_error(None, error.detail)


@login_required
def my_bookings(request):
    person = request.user
    bookings = access.bookings_for_listing(person).filter(requested_by=person) | access.bookings_for_listing(
        person
    ).filter(places__person=person)
    bookings = bookings.distinct().order_by("shift__starts_at", "id")
    # Their requests for a date, in words; never which shift was tried or who declined (SPEC §17).
    asked = (
        access.open_requests_visible_to(person)
        .filter(Q(requested_by=person) | Q(observers=person))
        .distinct()
        # Whether it came back to be placed again ("Being placed again"), counted in the same query.
        .annotate(reopened=Count("events", filter=Q(events__action="request_reopened")))
        .order_by("-created_at", "-id")[:50]
    )
    context = {"bookings": [_decorate(b) for b in bookings], "open_requests": asked}
    return render(request, "web/bookings.html", context)


def _decorate(booking: Booking) -> Booking:
    booking.consent_state = services.consent_summary(list(booking.consents.all()))
    booking.live_observers = [p for p in booking.places.all() if p.state != PlaceState.RELEASED]
    booking.paperwork_lines = present.paperwork_lines(booking)
    return booking


@login_required
def booking_detail(request, pk):
    person = request.user
    try:
        booking = access.access_booking(person, pk)
    except BookingError:
        return render(request, "web/not_found.html", status=404)
    _decorate(booking)
    now = _now()
    private = access.sees_private(person, booking.shift.station_id)
    events = list(AuditEvent.objects.filter(booking=booking).select_related("actor__profile").order_by("at", "id"))
    history = [present.history_sentence(e, hidden=access.hides_actor(e, private=private)) for e in events]
    observers = present.observers_of(booking)
    my_consent = next((c for c in booking.consents.all() if c.person_id == person.pk), None)
    live = booking.status in LIVE_STATUSES
    state, colour = present.state_for(booking, person)
    context = {
        "booking": booking,
        "shift": booking.shift,
        "state": state,
        "state_colour": colour,
        "history": [(e.at, sentence) for e, sentence in zip(events, history, strict=True)],
        "private": private,
        "live": live,
        "observers": [display_name(o) for o in observers],
        "consents": booking.consents.select_related("person__profile") if private else None,
        # The buttons are the actions the services accept from this reader now (access.booking_actions).
        "actions": access.booking_actions(person, booking, now),
        "my_consent": my_consent,
        "reason_form": ReasonForm(),
        "cancel_form": OptionalReasonForm(),
        "consent_form": ConsentForm(),
        **_after_the_shift(person, booking, now),
    }
    return render(request, "web/booking.html", context)


def _after_the_shift(person, booking, now) -> dict:
    """What the booking page shows once a ride-along that went ahead is over (SPEC §14)."""
    if now < booking.shift.ends_at or booking.status != "approved":
        return {"after": False}
    observer = access.may_reflect(person, booking)
    context = {"after": True, "observer": observer, "crew": access.is_crew_of(person, booking)}
    if observer:
        mine = booking.reflections.filter(author=person).first()
        context.update(
            reflection_form=ReflectionForm(initial={"text": mine.text, "shared": mine.shared} if mine else None),
            shared_reflections=after.readable_reflections(person=person, booking=booking, now=now),
            actions=list(booking.actions.select_related("owner__profile").order_by("due_on", "id")),
            action_form=ActionForm(owners=_observer_choices(booking), initial={"owner": person.pk}),
        )
    if access.may_read_feedback(person, booking):
        context["feedback"] = [
            (f.text, feedback_author(person, f, booking))
            for f in after.readable_feedback(person=person, booking=booking, now=now)
        ]
        context["feedback_form"] = FeedbackForm() if context["crew"] else None
    return context


def feedback_author(reader, feedback, booking) -> str:
    return (
        display_name(feedback.author)
        if access.sees_feedback_author(reader, feedback, booking.shift.station_id)
        else gettext("A crew member")
    )


def _observer_choices(booking) -> list[tuple[int, str]]:
    held = access.held_observer_ids(booking)
    return [
        (p.person_id, display_name(p.person))
        for p in booking.places.select_related("person__profile")
        if p.person_id in held
    ]


@login_required
@require_POST
def reflect(request, pk):
    form = ReflectionForm(request.POST)
    data = _valid(form, request, pk)
    if data is None:
        return redirect("web:booking", pk=pk)
    return _act(
        request,
        pk,
        lambda b: after.save_reflection(
            person=request.user, booking=b, text=data["text"], shared=data["shared"], now=_now()
        ),
        gettext("Your reflection is saved.") + (gettext(" The other observers can read it.") if data["shared"] else ""),
    )


@login_required
@require_POST
def add_action(request, pk):
    try:
        booking = access.access_booking(request.user, pk)
    except BookingError:
        return render(request, "web/not_found.html", status=404)
    data = _valid(ActionForm(request.POST, owners=_observer_choices(booking)), request, pk)
    if data is None:
        return redirect("web:booking", pk=pk)
    return _act(
        request,
        pk,
        lambda b: after.add_action(
            person=request.user,
            booking=b,
            text=data["text"],
            owner_id=int(data["owner"]),
            due_on=data["due_on"],
            now=_now(),
        ),
        gettext("Action added."),
    )


@login_required
@require_POST
def action_done(request, pk, action_id):
    def toggle(booking):
        action = after.action_for(request.user, action_id)
        if action.booking_id != booking.pk:
            raise NotFound(gettext("No action with that id."))
        after.update_action(person=request.user, action=action, now=_now(), done=request.POST.get("done") == "1")

    return _act(request, pk, toggle, gettext("Action updated."))


@login_required
@require_POST
def leave_feedback(request, pk):
    data = _valid(FeedbackForm(request.POST), request, pk)
    if data is None:
        return redirect("web:booking", pk=pk)
    return _act(
        request,
        pk,
        lambda b: after.leave_feedback(person=request.user, booking=b, text=data["text"], now=_now()),
        gettext("Thank you: the observers can read your feedback (they will not see your name)."),
    )


@login_required
def learning_log(request):
    """My learning log (SPEC §14): printable evidence for appraisal and revalidation."""
    person = request.user
    entries = [
        {
            "booking": booking,
            "reflection": next((r for r in booking.reflections.all() if r.author_id == person.pk), None),
            "shared": [r for r in booking.reflections.all() if r.shared and r.author_id != person.pk],
            "actions": list(booking.actions.all()),
            "feedback": [(f.text, feedback_author(person, f, booking)) for f in booking.feedback.all()],
        }
        for booking in selectors.learning_log(person, _now())
    ]
    context = {"entries": entries, "person": person, "my_programmes": programme_pages.my_progress(person)}
    return render(request, "web/learning.html", context)


def _act(request, pk, action, success):
    """Run `action` on the reader's booking; `success` is the banner's words, or makes them from the booking
    as the action left it, so that they are true for its state."""
    try:
        booking = access.access_booking(request.user, pk)
        after = action(booking)
    except BookingError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, success(after) if callable(success) else success)
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("web:booking", pk=pk)


def _valid(form, request, pk):
    """The form's data, or None after telling the reader what was wrong (it never reaches a service)."""
    if form.is_valid():
        return form.cleaned_data
    for errors in form.errors.values():
        messages.error(request, errors[0])
        break
    return None


def booking_action(form_class, service, success):
    """A decision posted from the booking page: the form checked with the API's limits, then the one
    service call given its fields as they are. `success` is the message, or makes it from the fields."""

    @login_required
    @require_POST
    def view(request, pk):
        data = {} if form_class is None else _valid(form_class(request.POST), request, pk)
        if data is None:
            return redirect("web:booking", pk=pk)
        message = (lambda booking: success(data, booking)) if callable(success) else success
        return _act(request, pk, lambda b: service(booking_id=b.pk, actor=request.user, now=_now(), **data), message)

    return view


def still_to_come(booking) -> str:
    """What an approved-by-the-lead or consented booking still waits for, in words; empty once confirmed."""
    if booking.status == BookingStatus.APPROVED:
        return ""
    waits = []
    if not booking.lead_approved:
        waits.append(gettext("the station's approval"))
    if booking.consents.filter(state=ConsentState.PENDING).exists():
        waits.append(gettext("every crew member's consent"))
    if services.bookings.paperwork_outstanding(booking):
        waits.append(gettext("the observers' signed paperwork"))
    return gettext(" and ").join(waits)


def approved_words(data, booking) -> str:
    waiting = still_to_come(booking)
    if not waiting:
        return gettext("Approved. The ride-along is confirmed and everyone has been told.")
    return gettext("Approved. The ride-along is confirmed once it has %(what)s.") % {"what": waiting}


def consent_words(data, booking) -> str:
    if data["decision"] == "decline":
        return gettext("Declined. Only the station's leads see it was you.")
    if data["decision"] == "withdraw":
        return gettext("Consent withdrawn. The requester and the observers have been told it is off.")
    if booking.status == BookingStatus.APPROVED:
        return gettext("Consent given. The ride-along is confirmed.")
    return gettext("Consent given. Thank you: the ride-along is confirmed once it has %(what)s.") % {
        "what": still_to_come(booking)
    }


approve = booking_action(None, services.approve_booking, approved_words)
decline = booking_action(ReasonForm, services.decline_booking, gettext_lazy("Declined. The requester has been told."))
cancel = booking_action(
    OptionalReasonForm, services.cancel_booking, gettext_lazy("Cancelled. Everyone involved has been told.")
)
consent = booking_action(ConsentForm, services.respond_to_booking, consent_words)


def _queue(person):
    qs = access.bookings_for_listing(person).filter(status__in=[BookingStatus.PENDING, BookingStatus.WAITLISTED])
    if not is_admin(person):
        qs = qs.filter(shift__station_id__in=lead_station_ids(person))
    return qs


@login_required
def lead_queue(request):
    person = request.user
    if not (lead_station_ids(person) or is_admin(person)):
        return render(request, "web/not_found.html", status=404)
    bookings = list(
        _queue(person)
        .select_related("requested_by__profile")
        .order_by("shift__starts_at", "created_at")
        .prefetch_related("consents__person__profile", "places__person__profile")
    )
    for booking in bookings:
        _decorate(booking)
    return render(request, "web/queue.html", {"bookings": bookings, "reason_form": ReasonForm()})


def _inbox(person):
    return (
        access.bookings_for_listing(person)
        .filter(
            shift__crew_members__person=person,
            status__in=LIVE_STATUSES,
            shift__starts_at__gt=_now(),
        )
        .distinct()
    )


@login_required
def consent_inbox(request):
    person = request.user
    if not person.crew_places.exists():
        # Only crew are asked to host; to anyone else the page is not there (SPEC §10: navigation by role).
        return render(request, "web/not_found.html", status=404)
    form = PreferenceForm(request.POST or None, initial={"consent_preference": person.profile.consent_preference})
    if request.method == "POST" and form.is_valid():
        try:
            services.set_consent_preference(
                person=person, preference=form.cleaned_data["consent_preference"], now=_now()
            )
        except BookingError as error:
            messages.error(request, error.detail)
        else:
            messages.success(request, gettext("Your preference is saved."))
        return redirect("web:inbox")
    bookings = list(_inbox(person).order_by("shift__starts_at"))
    for booking in bookings:
        _decorate(booking)
        booking.mine = next((c for c in booking.consents.all() if c.person_id == person.pk), None)
    return render(request, "web/inbox.html", {"bookings": bookings, "form": form})


@login_required
def calendar_link(request):
    person = request.user
    if request.method == "POST":
        if request.POST.get("action") != "revoke":
            return calendar_link_new(request)
        services.revoke_calendar_token(person=person)
        messages.success(request, gettext("Your calendar link no longer works."))
        return redirect("web:calendar")
    return render(request, "web/calendar.html", {"link": CalendarToken.objects.filter(person=person).first()})


@login_required
def calendar_link_new(request):
    """Make a link and show it in this one response; only its digest is stored, nowhere else."""
    if request.method != "POST":
        return redirect("web:calendar")
    token = services.issue_calendar_token(person=request.user, now=_now())
    response = render(request, "web/calendar_new.html", {"urls": calendar_urls(token)})
    return secret_page(response)


def secret_page(response):
    # The page shows a secret: keep it out of Referer headers and caches.
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-store"
    return response


RECENT_SIGN_IN_SECONDS = 30 * 60


def signed_in_recently(request) -> bool:
    """Signed in (with a password or the organisation) in the last 30 minutes, in this session."""
    return clock.time() - request.session.get("signed_in_at", 0) <= RECENT_SIGN_IN_SECONDS


@login_required
def api_tokens(request):
    """List, make and revoke one's API tokens (SPEC §12): the way in for people who sign in with SSO."""
    person = request.user
    form = ApiTokenForm(request.POST or None)
    if request.method == "POST" and request.POST.get("revoke"):
        try:
            accounts.revoke_api_token(person=person, token_id=int(request.POST["revoke"]))
        except (BookingError, ValueError):
            messages.error(request, gettext("That token was already revoked."))
        else:
            messages.success(request, gettext("The token no longer works."))
        return redirect("web:api-tokens")
    context = {"form": form, "tokens": accounts.tokens_of(person, now=_now()), "secret": None}
    if request.method == "POST" and form.is_valid() and not signed_in_recently(request):
        form.add_error("name", _("Sign out and sign in again to make a token: a token needs a recent sign-in."))
    if request.method == "POST" and form.is_valid():
        try:
            token, secret = accounts.issue_api_token(person=person, name=form.cleaned_data["name"], now=_now())
        except BookingError as error:
            form.add_error("name", error.detail)
        else:
            context.update(secret=secret, new=token)
            response = secret_page(render(request, "web/api_tokens.html", context))
            # The page's own forms must still pass CSRF's origin check (no-referrer sends `Origin: null`).
            response["Referrer-Policy"] = "strict-origin"
            return response
    status = 400 if form.errors else 200
    return render(request, "web/api_tokens.html", context, status=status)


@login_required
def booking_ics(request, pk):
    try:
        booking = access.access_booking(request.user, pk)
    except BookingError:
        return render(request, "web/not_found.html", status=404)
    body = build_feed(owner=request.user, bookings=[booking], now=_now(), name="Ride-along")
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="ride-along-{booking.pk}.ics"'
    return response


@login_required
def my_data(request):
    """What Ridealong holds about me, and the download of all of it (SPEC §13)."""
    if request.GET.get("download"):
        from django.http import JsonResponse

        from ..export import export_person

        response = JsonResponse(export_person(request.user, now=_now()), json_dumps_params={"indent": 2})
        response["Content-Disposition"] = 'attachment; filename="my-ridealong-data.json"'
        response["Cache-Control"] = "no-store"
        return response
    if request.method == "POST":
        services.set_reminders(person=request.user, on=request.POST.get("reminders") == "on")
        messages.success(request, gettext("Your e-mail settings are saved."))
        return redirect("web:my-data")
    return render(request, "web/my_data.html", {"person": request.user})
