"""After the shift (SPEC §14): reflections, the actions the observers agree, and the crew's feedback."""

from datetime import date, datetime

from django.contrib.auth import get_user_model
from django.utils.translation import gettext

from .. import access
from ..errors import Forbidden, Invalid, InvalidTransition, NotFound, TooEarly
from ..models import Booking, BookingStatus, Feedback, FollowUp, Reflection
from .base import write_transaction

User = get_user_model()

MAX_REFLECTION = 10000
MAX_TEXT = 2000


def ensure_after_shift(booking: Booking, now: datetime) -> None:
    """The shift has ended and the ride-along went ahead (approved)."""
    if now < booking.shift.ends_at:
        raise TooEarly(gettext("Reflections, actions and feedback open once the shift has ended."))
    if booking.status != BookingStatus.APPROVED:
        raise InvalidTransition(gettext("Only a ride-along that went ahead has reflections, actions and feedback."))


def ensure_observer(person, booking: Booking) -> None:
    if not access.may_reflect(person, booking):
        raise Forbidden(gettext("Only the observers of this ride-along can do that."))


def _text(value, field: str, limit: int, *, required: bool = True) -> str:
    if not isinstance(value, str):
        raise Invalid(gettext("Send text."), fields={field: [gettext("Send text.")]})
    value = value.strip()
    if required and not value:
        raise Invalid(gettext("Write something first."), fields={field: [gettext("This cannot be empty.")]})
    if len(value) > limit:
        raise Invalid(
            gettext("Keep it to %(n)s characters.") % {"n": limit},
            fields={field: [gettext("At most %(n)s characters.") % {"n": limit}]},
        )
    if "\x00" in value:
        raise Invalid(
            gettext("Text may not contain NUL characters."), fields={field: [gettext("Remove the NUL characters.")]}
        )
    return value


def save_reflection(*, person, booking: Booking, text: str, shared: bool, now: datetime) -> Reflection:
    """Write or rewrite one's own reflection; `shared` shows it to the booking's other observers."""
    ensure_observer(person, booking)
    ensure_after_shift(booking, now)
    text = _text(text, "text", MAX_REFLECTION)
    with write_transaction():
        reflection, made = Reflection.objects.get_or_create(
            booking=booking,
            author=person,
            defaults={"text": text, "shared": bool(shared), "created_at": now, "updated_at": now},
        )
        if not made:
            reflection.text, reflection.shared, reflection.updated_at = text, bool(shared), now
            reflection.save(update_fields=["text", "shared", "updated_at"])
    return reflection


def own_reflection(*, person, booking: Booking, now: datetime) -> Reflection:
    ensure_observer(person, booking)
    ensure_after_shift(booking, now)
    reflection = Reflection.objects.filter(booking=booking, author=person).first()
    if reflection is None:
        raise NotFound(gettext("You have not written a reflection on this ride-along yet."))
    return reflection


def readable_reflections(*, person, booking: Booking, now: datetime) -> list[Reflection]:
    """One's own and those the other observers shared; crew and leads never read reflections."""
    ensure_observer(person, booking)
    ensure_after_shift(booking, now)
    return [
        r
        for r in booking.reflections.select_related("author__profile").order_by("created_at", "id")
        if r.author_id == person.pk or r.shared
    ]


def _owner(booking: Booking, owner_id) -> int:
    if not isinstance(owner_id, int) or owner_id not in access.held_observer_ids(booking):
        raise Invalid(
            gettext("An action's owner is one of this ride-along's observers."),
            fields={"owner": [gettext("Choose one of the observers of this ride-along.")]},
        )
    return owner_id


def add_action(
    *,
    person,
    booking: Booking,
    text: str,
    owner_id: int | None = None,
    due_on: date | None = None,
    done: bool = False,
    now: datetime,
) -> FollowUp:
    ensure_observer(person, booking)
    ensure_after_shift(booking, now)
    text = _text(text, "text", MAX_TEXT)
    owner_id = _owner(booking, person.pk if owner_id is None else owner_id)
    with write_transaction():
        return FollowUp.objects.create(
            booking=booking,
            text=text,
            owner_id=owner_id,
            due_on=due_on,
            done=bool(done),
            created_by=person,
            created_at=now,
            updated_at=now,
        )


def action_for(person, action_id) -> FollowUp:
    """The action if the person may see it (an observer of its booking); otherwise 404."""
    try:
        action_id = int(action_id)
    except (TypeError, ValueError):
        raise NotFound(gettext("No action with that id.")) from None
    action = FollowUp.objects.filter(pk=action_id).select_related("booking__shift").first()
    if action is None:
        raise NotFound(gettext("No action with that id."))
    booking = access.access_booking(person, action.booking_id)
    if not access.may_reflect(person, booking):
        raise NotFound(gettext("No action with that id."))
    action.booking = booking
    return action


def update_action(*, person, action: FollowUp, now: datetime, **changes) -> FollowUp:
    booking = action.booking
    ensure_observer(person, booking)
    ensure_after_shift(booking, now)
    fields = []
    if "text" in changes:
        action.text = _text(changes["text"], "text", MAX_TEXT)
        fields.append("text")
    if "owner" in changes:
        action.owner_id = _owner(booking, changes["owner"])
        fields.append("owner")
    if "due_on" in changes:
        action.due_on = changes["due_on"]
        fields.append("due_on")
    if "done" in changes:
        action.done = bool(changes["done"])
        fields.append("done")
    action.updated_at = now
    with write_transaction():
        action.save(update_fields=[*fields, "updated_at"])
    return action


def delete_action(*, person, action: FollowUp, now: datetime) -> None:
    ensure_observer(person, action.booking)
    ensure_after_shift(action.booking, now)
    with write_transaction():
        action.delete()


def leave_feedback(*, person, booking: Booking, text: str, now: datetime) -> Feedback:
    """A crew member's word to the observers; they read it as from "a crew member" (SPEC §13)."""
    if not access.is_crew_of(person, booking):
        raise Forbidden(gettext("Only the crew of this shift can leave feedback."))
    ensure_after_shift(booking, now)
    text = _text(text, "text", MAX_TEXT)
    with write_transaction():
        return Feedback.objects.create(booking=booking, author=person, text=text, created_at=now)


def readable_feedback(*, person, booking: Booking, now: datetime) -> list[Feedback]:
    if not access.may_read_feedback(person, booking):
        raise Forbidden(gettext("Only the observers, the crew and the station's leads read feedback."))
    ensure_after_shift(booking, now)
    return list(booking.feedback.select_related("author__profile"))
