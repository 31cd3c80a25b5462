"""Who may call the API at all (SPEC §12, §19): anyone signed in; a visitor only their own corner of it."""

from django.utils.translation import gettext
from rest_framework.permissions import IsAuthenticated

from ..errors import NotFound

# What a visitor from outside the trust reaches: their own bookings, calendar, learning log, data, paperwork.
VISITOR_ROUTES = {
    "api-token",
    "api-api-tokens",
    "api-api-token",
    "api-me",
    "api-calendar-link",
    "api-learning",
    "api-export",
    "api-my-programmes",
    "api-paperwork",
    "api-my-paperwork",
    "api-paperwork-sign",
    "api-booking",
    "api-booking-cancel",
    "api-booking-history",
    "api-booking-ics",
    "api-booking-reflection",
    "api-booking-reflections",
    "api-booking-actions",
    "api-booking-feedback",
    "api-action",
}
# Read, not written: a visitor lists their bookings but requests none.
VISITOR_READ_ROUTES = {"api-bookings"}


def visitor_may_reach(route: str | None, method: str) -> bool:
    return route in VISITOR_ROUTES or (route in VISITOR_READ_ROUTES and method in ("GET", "HEAD", "OPTIONS"))


class SignedIn(IsAuthenticated):
    """Signed in; and a visitor outside their own corner gets 404, as for what does not exist."""

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            return False
        profile = getattr(request.user, "profile", None)
        if profile is not None and profile.is_visitor:
            match = getattr(request, "resolver_match", None)
            if not visitor_may_reach(match.url_name if match else None, request.method):
                raise NotFound(gettext("Not found."))
        return True
