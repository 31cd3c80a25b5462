"""Which status a booking may move to from which (SPEC §5.1): one table, read by services and access."""

from .models import Booking, BookingStatus

ALLOWED_TRANSITIONS: dict[str, set[str]] = {
    BookingStatus.PENDING: {
        BookingStatus.APPROVED,
        BookingStatus.DECLINED,
        BookingStatus.CANCELLED,
        BookingStatus.EXPIRED,
        BookingStatus.WAITLISTED,
    },
    BookingStatus.APPROVED: {BookingStatus.PENDING, BookingStatus.CANCELLED, BookingStatus.WAITLISTED},
    BookingStatus.WAITLISTED: {
        BookingStatus.PENDING,
        BookingStatus.DECLINED,
        BookingStatus.CANCELLED,
        BookingStatus.EXPIRED,
    },
    BookingStatus.DECLINED: set(),
    BookingStatus.CANCELLED: set(),
    BookingStatus.EXPIRED: set(),
}


def may_become(booking: Booking, to: str) -> bool:
    """Whether the transitions table lets the booking move to `to` from where it is."""
    return to in ALLOWED_TRANSITIONS[booking.status]
