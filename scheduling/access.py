"""Who may see and do what (SPEC §1), asked in one place by services, selectors, views and serializers.

Anything a person may not see answers 404, the same as what does not exist, so existence does not leak.
"""

from django.conf import settings
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils.translation import gettext

from .errors import Forbidden, NotFound
from .models import (
    LIVE_STATUSES,
    Booking,
    BookingStatus,
    Clearance,
    ConsentState,
    CrewMember,
    OpenRequest,
    Place,
    PlaceState,
    Programme,
    Shift,
    Station,
)
from .rules import not_free
from .transitions import may_become

MAX_ID = 2**62  # ids beyond what a bigint holds are simply not found


def is_admin(person) -> bool:
    return bool(person is not None and person.is_active and person.is_staff)


def lead_station_ids(person) -> set[int]:
    """The stations the person leads; read once per request and kept on the person."""
    if person is None or person.pk is None:
        return set()
    cached = getattr(person, "_lead_station_ids", None)
    if cached is None:
        cached = set(Station.leads.through.objects.filter(user_id=person.pk).values_list("station_id", flat=True))
        person._lead_station_ids = cached
    return cached


def is_lead_of(person, station_id: int) -> bool:
    return person is not None and station_id in lead_station_ids(person)


def leads_or_admin(person, station_id: int) -> bool:
    return is_admin(person) or is_lead_of(person, station_id)


def ensure_lead_or_admin(person, station_id: int) -> None:
    if not leads_or_admin(person, station_id):
        raise Forbidden(gettext("Only the station's leads can do that."))


def sees_private(person, station_id: int) -> bool:
    """Who declined, the consents and any crew answer's actor: leads of the station and admins (§4, §13)."""
    return leads_or_admin(person, station_id)


def hides_actor(event, *, private: bool) -> bool:
    """Whether an audit event's actor and note are withheld from a reader (SPEC §13).

    `private` is `sees_private(reader, station)`. Events caused by a crew member's answer, and what
    they set off, are marked `actor_private` when written; only leads and admins see who.
    """
    return event.actor_private and not private


def rule_as_seen_by(person, station_id: int, violations: list) -> list:
    """The broken rules as this reader may hear them (SPEC §5.2, §13).

    Being rostered on the shift is said to requesters and observers as any other clash, so that naming
    colleagues one by one cannot reveal the crew; the station's leads and admins hear the rule itself.
    """
    if sees_private(person, station_id):
        return violations

    return [
        not_free(v.data["observer_name"], v.data["observer"]) if v.code == "observer_is_crew" else v for v in violations
    ]


def sees_crew_names(person, shift: Shift, crew_ids: set[int] | None = None) -> bool:
    if sees_private(person, shift.station_id):
        return True
    if crew_ids is None:
        crew_ids = {c.person_id for c in shift.crew_members.all()}
    return person.pk in crew_ids


def may_read_people(person) -> bool:
    """The people list and profiles: admins, and leads (who read dates of birth as null)."""
    return is_admin(person) or bool(lead_station_ids(person))


def may_look_up_people(person) -> bool:
    """Naming a colleague as an observer: requesters, leads and admins (SPEC §6 `people/lookup`)."""
    return may_read_people(person) or bool(getattr(getattr(person, "profile", None), "is_requester", False))


def may_request(person) -> bool:
    """Asking for ride-alongs: requesters only (SPEC §1); pages offer the link to them alone."""
    return bool(getattr(getattr(person, "profile", None), "is_requester", False))


def may_read_person_history(viewer, person_id: int) -> bool:
    """What was recorded about a person (clearances): admins and the person themselves (SPEC §13)."""
    return is_admin(viewer) or viewer.pk == person_id


def sees_date_of_birth(viewer, person_id: int) -> bool:
    return is_admin(viewer) or viewer.pk == person_id


def tried_placement() -> Q:
    """A placement the crew turned down: the station's business. The requester and observers of an open
    request never learn which shifts were tried (SPEC §17); its crew and leads still see it."""
    return Q(from_request__isnull=False, status=BookingStatus.DECLINED, cancel_reason="crew_declined")


def may_invite(person) -> bool:
    """Requesters, leads and admins invite visitors (SPEC §19); visitors themselves do not."""
    if person is None or not person.is_authenticated or person.profile.is_visitor:
        return False
    return is_admin(person) or person.profile.is_requester or bool(lead_station_ids(person))


def bookings_visible_to(person) -> QuerySet[Booking]:
    """Those involved: requester, observers, the shift's crew, its station's leads, admins."""
    qs = Booking.objects.all()
    if is_admin(person):
        return qs
    tried = tried_placement()
    return qs.filter(
        ((Q(requested_by=person) | Exists(Place.objects.filter(booking=OuterRef("pk"), person=person))) & ~tried)
        | Exists(CrewMember.objects.filter(shift=OuterRef("shift_id"), person=person))
        | Q(shift__station_id__in=lead_station_ids(person))
    )


def bookings_for_listing(person) -> QuerySet[Booking]:
    return (
        bookings_visible_to(person)
        .select_related("shift__station", "shift__resource")
        .prefetch_related(
            Prefetch("places", queryset=Place.objects.order_by("id")),
            "consents",
            "shift__crew_members",
            # What the paperwork gate reads of the observers (SPEC §19), for every booking at once.
            Prefetch(
                "places__person__clearances",
                queryset=Clearance.objects.filter(kind__in=list(settings.RIDEALONG_ONLINE_CLEARANCES)).order_by(),
            ),
        )
    )


def access_booking(person, booking_id) -> Booking:
    """The booking if the person may see it; otherwise 404, so that its existence does not leak."""
    try:
        booking_id = int(booking_id)
    except (TypeError, ValueError):
        raise NotFound(gettext("No booking with that id.")) from None
    if not 0 < booking_id < MAX_ID:
        raise NotFound(gettext("No booking with that id."))
    booking = bookings_for_listing(person).filter(pk=booking_id).first()
    if booking is None:
        raise NotFound(gettext("No booking with that id."))
    return booking


def holds_live_place(person, booking: Booking) -> bool:
    return any(p.person_id == person.pk and p.state != PlaceState.RELEASED for p in booking.places.all())


def may_decide(person, booking: Booking) -> bool:
    """Approve or decline: the station's leads and admins, never on a booking they requested or observe."""
    if not leads_or_admin(person, booking.shift.station_id):
        return False
    return booking.requested_by_id != person.pk and not any(p.person_id == person.pk for p in booking.places.all())


def cancels(person, booking: Booking) -> bool:
    """Who cancels (SPEC §4): the requester and the leads the whole booking; an observer their own place."""
    return (
        booking.requested_by_id == person.pk
        or leads_or_admin(person, booking.shift.station_id)
        or holds_live_place(person, booking)
    )


def held_observer_ids(booking: Booking) -> set[int]:
    """The observers whose places are held: on an approved booking, those who came (SPEC §14)."""
    return {p.person_id for p in booking.places.all() if p.state == PlaceState.HELD}


def may_reflect(person, booking: Booking) -> bool:
    """Reflections and actions: the booking's observers only; never its crew or leads (SPEC §14)."""
    return person.pk in held_observer_ids(booking)


def sees_feedback_author(viewer, feedback, station_id: int) -> bool:
    """Observers read crew feedback as from "a crew member"; its author, leads and admins see who (§13)."""
    return feedback.author_id == viewer.pk or sees_private(viewer, station_id)


def is_crew_of(person, booking: Booking) -> bool:
    return any(c.person_id == person.pk and c.active for c in booking.shift.crew_members.all())


def may_record_outcome(person, booking: Booking) -> bool:
    """How the ride-along went: its active crew, the station's leads and admins (SPEC §14)."""
    return is_crew_of(person, booking) or leads_or_admin(person, booking.shift.station_id)


def may_read_feedback(person, booking: Booking) -> bool:
    return may_reflect(person, booking) or is_crew_of(person, booking) or sees_private(person, booking.shift.station_id)


class BookingAction:
    """What a reader may do to a booking now: the names the API's `actions` list and the pages use."""

    APPROVE = "approve"
    DECLINE = "decline"
    CANCEL = "cancel"
    GIVE_CONSENT = "give_consent"
    DECLINE_CONSENT = "decline_consent"
    WITHDRAW_CONSENT = "withdraw_consent"
    RECORD_OUTCOME = "record_outcome"
    ALL = (APPROVE, DECLINE, CANCEL, GIVE_CONSENT, DECLINE_CONSENT, WITHDRAW_CONSENT, RECORD_OUTCOME)


def booking_actions(person, booking: Booking, now) -> list[str]:
    """The actions this reader may take on the booking now: permission, the transitions table, and the
    shift's start and end, asked as the services ask them (SPEC §5.1, §6). Pages show these buttons only."""
    before_start = now < booking.shift.starts_at
    actions = []
    if before_start and may_decide(person, booking):
        if may_become(booking, BookingStatus.APPROVED) and not booking.lead_approved:
            actions.append(BookingAction.APPROVE)
        if may_become(booking, BookingStatus.DECLINED):
            actions.append(BookingAction.DECLINE)
    if before_start and may_become(booking, BookingStatus.CANCELLED) and cancels(person, booking):
        actions.append(BookingAction.CANCEL)
    # Only crew are asked for consent, so the booking's consents (at hand) answer most readers at once.
    mine = next((c for c in booking.consents.all() if c.person_id == person.pk), None)
    if before_start and booking.status in LIVE_STATUSES and mine is not None and is_crew_of(person, booking):
        if mine.state == ConsentState.PENDING:
            actions += [BookingAction.GIVE_CONSENT, BookingAction.DECLINE_CONSENT]
        elif mine.state == ConsentState.GIVEN:
            # Declining consent already given withdraws it, as the consent endpoint's `decline` does.
            actions += [BookingAction.DECLINE_CONSENT, BookingAction.WITHDRAW_CONSENT]
    if (
        booking.status == BookingStatus.APPROVED
        and now >= booking.shift.ends_at
        and may_record_outcome(person, booking)
    ):
        actions.append(BookingAction.RECORD_OUTCOME)
    return actions


def open_requests_visible_to(person) -> QuerySet[OpenRequest]:
    """The requester and its observers see theirs; leads their stations'; admins all (SPEC §17)."""
    qs = OpenRequest.objects.select_related("station").prefetch_related("observers")
    if is_admin(person):
        return qs
    mine = Q(requested_by=person) | Q(
        pk__in=OpenRequest.observers.through.objects.filter(user=person).values("openrequest_id")
    )
    return qs.filter(mine | Q(station_id__in=lead_station_ids(person)))


def access_open_request(person, request_id, *, suggestions: bool = False) -> OpenRequest:
    """The open request if the person may see it (its suggestions: only the station's leads and admins);
    otherwise 404, the same as for one that does not exist."""
    try:
        request_id = int(request_id)
    except (TypeError, ValueError):
        raise NotFound(gettext("No request with that id.")) from None
    found = open_requests_visible_to(person).filter(pk=request_id).first() if 0 < request_id < MAX_ID else None
    if found is None or (suggestions and not leads_or_admin(person, found.station_id)):
        raise NotFound(gettext("No request with that id."))
    return found


def coordinates(person, programme: Programme) -> bool:
    """Coordinators and admins manage a programme's members and read its progress (SPEC §18)."""
    if is_admin(person):
        return True
    ids = getattr(programme, "_coordinator_ids", None)
    if ids is None:
        ids = programme._coordinator_ids = set(programme.coordinators.values_list("pk", flat=True))
    return person.pk in ids


def programmes_visible_to(person) -> QuerySet[Programme]:
    """The programmes one coordinates (admins: all); members read theirs through /me/programmes."""
    qs = Programme.objects.prefetch_related("coordinators", "members")
    return qs if is_admin(person) else qs.filter(coordinators=person)


def access_programme(person, programme_id) -> Programme:
    try:
        programme_id = int(programme_id)
    except (TypeError, ValueError):
        raise NotFound(gettext("No programme with that id.")) from None
    found = programmes_visible_to(person).filter(pk=programme_id).first() if 0 < programme_id < MAX_ID else None
    if found is None:
        raise NotFound(gettext("No programme with that id."))
    return found
