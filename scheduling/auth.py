"""Password sign-in with lockouts, shared by the pages, the admin and the API (SPEC §12)."""

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from .addresses import client_address
from .services import accounts


class ThrottledModelBackend(ModelBackend):
    """Django's password check, refused outright while the username or the address is locked out.

    A locked attempt is not counted again, so a lockout ends 15 minutes after the failure that
    caused it; `request.sign_in_locked_until` tells the caller when.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None or password is None:
            return None
        if settings.PASSWORD_SIGN_IN == "none":
            # Only the organisation's sign-in is in use; a password is refused before it is even checked.
            if request is not None:
                request.password_sign_in_off = True
            raise PermissionDenied("Password sign-in is turned off.")
        now = timezone.now()
        address = client_address(request)
        attempt, until = accounts.begin_sign_in(username=username, address=address, now=now)
        if until is not None:
            if request is not None:
                request.sign_in_locked_until = until
            # PermissionDenied stops Django trying other backends.
            raise PermissionDenied("Too many failed sign-ins.")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None and not password_sign_in_allowed(user):
            # PASSWORD_SIGN_IN limits passwords once SSO is in use; the person signs in with their organisation.
            accounts.forget_sign_in_attempt(attempt)
            if request is not None:
                request.password_sign_in_off = True
            raise PermissionDenied("Password sign-in is turned off.")
        if user is not None:
            # The attempt, counted as a failure while it was checked, goes with the username's others.
            accounts.clear_sign_in_failures(username=username, now=now)
        return user


def password_sign_in_allowed(user) -> bool:
    mode = settings.PASSWORD_SIGN_IN
    return mode == "all" or (mode == "admins" and user.is_staff)


def password_sign_in_off(request) -> bool:
    return bool(getattr(request, "password_sign_in_off", False))


def locked_until(request):
    return getattr(request, "sign_in_locked_until", None)
