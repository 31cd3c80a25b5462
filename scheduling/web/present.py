"""Words for pages: a booking's state for this reader and its history as sentences (SPEC §10).

Whether a reader may see who did something is decided by `access.hides_actor`, not here.
"""

from django.utils.translation import gettext as _

from ..models import BookingStatus, PlaceState, display_name
from ..rules import CLEARANCE_WORDS
from ..services.bookings import paperwork_outstanding

SENTENCES = {
    "requested": "{who} asked for this ride-along",
    "lead_approved": "{who} approved",
    "approved": "The ride-along is confirmed",
    "consent_given": "{who} consented",
    "consent_declined": "{who} declined",
    "consent_withdrawn": "{who} withdrew consent",
    "declined": "{who} declined the request",
    "cancelled": "{who} cancelled the ride-along",
    "place_cancelled": "{who} left the ride-along",
    "promoted": "Moved up from the waiting list",
    "seats_reduced": "Moved back to the waiting list: the shift now has fewer seats",
    "expired": "Expired: the shift started before the request was approved",
    "shift_changed": "The shift changed",
    "shift_cancelled": "The shift was cancelled",
    "station_suspended": "Cancelled: observations at the station were suspended",
    "clearance_lapsed": "Cancelled: an observer's clearance no longer covers the shift",
    "crew_changed": "The crew changed, so a new crew member has been asked to consent",
    "outcome": "{who} recorded the outcome",
}
OUTCOMES = {"attended": "attended", "ended_early": "ended early", "no_show": "did not attend"}


def who(event, *, hidden: bool) -> str:
    if hidden:
        return "A crew member"
    if event.actor_id is None:
        return "Ridealong"
    return display_name(event.actor)


def history_sentence(event, *, hidden: bool) -> str:
    template = SENTENCES.get(event.action, event.action.replace("_", " ").capitalize())
    sentence = template.format(who=who(event, hidden=hidden))
    if event.action == "requested" and event.to_status == BookingStatus.WAITLISTED:
        sentence += ", and it went on the waiting list"
    if event.action == "outcome" and event.code:
        sentence += f": {OUTCOMES.get(event.code, event.code)}"
    if event.note and not hidden and event.action in ("declined", "cancelled", "place_cancelled", "station_suspended"):
        sentence += f": “{event.note}”"
    return sentence + "."


STATES = {
    BookingStatus.PENDING: "Waiting for approval",
    BookingStatus.APPROVED: "Approved",
    BookingStatus.WAITLISTED: "On the waiting list",
    BookingStatus.DECLINED: "Declined",
    BookingStatus.CANCELLED: "Cancelled",
    BookingStatus.EXPIRED: "Expired",
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
        return "You left this ride-along", "grey"
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
        missing.setdefault(person_id, []).append(CLEARANCE_WORDS.get(kind, kind))
    return [
        _("%(name)s still has to sign the %(what)s online")
        % {"name": names.get(pid, ""), "what": _(" and ").join(kinds)}
        for pid, kinds in missing.items()
    ]
