"""Words for pages: a booking's state for this reader and its history as sentences (SPEC §10).

Whether a reader may see who did something is decided by `access.hides_actor`, not here.
"""

from django.utils.translation import gettext, gettext_lazy
from django.utils.translation import gettext as _

from ..models import BookingStatus, PlaceState, display_name
from ..rules import CLEARANCE_WORDS
from ..services.bookings import paperwork_outstanding

SENTENCES = {
    "requested": gettext_lazy("{who} asked for this ride-along"),
    "lead_approved": gettext_lazy("{who} approved"),
    "approved": gettext_lazy("The ride-along is confirmed"),
    "consent_given": gettext_lazy("{who} consented"),
    "consent_declined": gettext_lazy("{who} declined"),
    "consent_withdrawn": gettext_lazy("{who} withdrew consent"),
    "declined": gettext_lazy("{who} declined the request"),
    "cancelled": gettext_lazy("{who} cancelled the ride-along"),
    "place_cancelled": gettext_lazy("{who} left the ride-along"),
    "promoted": gettext_lazy("Moved up from the waiting list"),
    "seats_reduced": gettext_lazy("Moved back to the waiting list: the shift now has fewer seats"),
    "expired": gettext_lazy("Expired: the shift started before the request was approved"),
    "shift_changed": gettext_lazy("The shift changed"),
    "shift_cancelled": gettext_lazy("The shift was cancelled"),
    "station_suspended": gettext_lazy("Cancelled: observations at the station were suspended"),
    "clearance_lapsed": gettext_lazy("Cancelled: an observer's clearance no longer covers the shift"),
    "crew_changed": gettext_lazy("The crew changed, so a new crew member has been asked to consent"),
    "outcome": gettext_lazy("{who} recorded the outcome"),
}
OUTCOMES = {
    "attended": gettext_lazy("attended"),
    "ended_early": gettext_lazy("ended early"),
    "no_show": gettext_lazy("did not attend"),
}


def who(event, *, hidden: bool) -> str:
    if hidden:
        return gettext("A crew member")
    if event.actor_id is None:
        return "Ridealong"
    return display_name(event.actor)


def history_sentence(event, *, hidden: bool) -> str:
    template = SENTENCES.get(event.action, event.action.replace("_", " ").capitalize())
    sentence = template.format(who=who(event, hidden=hidden))
    if event.action == "requested" and event.to_status == BookingStatus.WAITLISTED:
        sentence += gettext(", and it went on the waiting list")
    if event.action == "outcome" and event.code:
        sentence += f": {OUTCOMES.get(event.code, event.code)}"
    if event.note and not hidden and event.action in ("declined", "cancelled", "place_cancelled", "station_suspended"):
        sentence += f": “{event.note}”"
    return sentence + "."


STATES = {
    BookingStatus.PENDING: gettext_lazy("Waiting for approval"),
    BookingStatus.APPROVED: gettext_lazy("Approved"),
    BookingStatus.WAITLISTED: gettext_lazy("On the waiting list"),
    BookingStatus.DECLINED: gettext_lazy("Declined"),
    BookingStatus.CANCELLED: gettext_lazy("Cancelled"),
    BookingStatus.EXPIRED: gettext_lazy("Expired"),
}


def state_for(booking, reader) -> tuple[str, str]:
    """(words, tag colour) for this reader: an observer who left sees that they left."""
    mine = [p for p in booking.places.all() if p.person_id == reader.pk]
    if (
        mine
        and all(p.state == PlaceState.RELEASED for p in mine)
        and booking.status
        not in (
            BookingStatus.CANCELLED,
            BookingStatus.DECLINED,
            BookingStatus.EXPIRED,
        )
    ):
        return gettext("You left this ride-along"), "grey"
    colours = {BookingStatus.APPROVED: "green", BookingStatus.PENDING: "yellow", BookingStatus.WAITLISTED: "blue"}
    return STATES[booking.status], colours.get(booking.status, "grey")


def observers_of(booking) -> list:
    """Those whose places are live; after a booking ends, everyone it named (its places were released)."""
    places = list(booking.places.all())
    if booking.status in (BookingStatus.DECLINED, BookingStatus.CANCELLED, BookingStatus.EXPIRED):
        left = {p.person_id for p in places if p.cancelled_by_observer}
        return [p.person for p in places if p.person_id not in left] or [p.person for p in places]
    return [p.person for p in places if p.state != PlaceState.RELEASED]


def paperwork_lines(booking) -> list[str]:
    """The third gate in words (SPEC §19): who still has which document to sign; empty once complete."""
    gaps = paperwork_outstanding(booking)
    if not gaps:
        return []
    names = {p.person_id: display_name(p.person) for p in booking.places.select_related("person__profile")}
    missing: dict[int, list[str]] = {}
    for person_id, kind in gaps:
        missing.setdefault(person_id, []).append(str(CLEARANCE_WORDS.get(kind, kind)))
    return [
        _("%(name)s still has to sign the %(what)s online")
        % {"name": names.get(pid, ""), "what": _(" and ").join(kinds)}
        for pid, kinds in missing.items()
    ]
