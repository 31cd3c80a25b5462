"""Errors a person can act on: each carries a stable code (SPEC §5.2, §6) and an HTTP status."""

from typing import Any

from django.utils.translation import gettext_lazy


class BookingError(Exception):
    code = "error"
    status = 409
    default_detail = gettext_lazy("The request could not be carried out.")
    retry_after: int | None = None  # seconds, sent as Retry-After

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        fields: dict | None = None,
        data: dict[str, Any] | None = None,
    ):
        self.detail = detail or self.default_detail
        if code:
            self.code = code
        self.fields = fields
        self.data = data or {}
        super().__init__(self.detail)

    def as_body(self) -> dict:
        body: dict[str, Any] = {"code": self.code, "detail": self.detail}
        if self.fields is not None:
            body["fields"] = self.fields
        return body


class RuleViolation(BookingError):
    """A rule of SPEC §5.2 is broken; `code` names it."""

    status = 409


class InvalidTransition(BookingError):
    code = "invalid_transition"
    status = 409
    default_detail = gettext_lazy("The booking cannot make that change in its current state.")


class TooEarly(BookingError):
    code = "too_early"
    status = 409
    default_detail = gettext_lazy("This opens once the shift has ended.")


class Invalid(BookingError):
    code = "invalid"
    status = 400
    default_detail = gettext_lazy("Some of the input is not valid.")


class NotFound(BookingError):
    code = "not_found"
    status = 404
    default_detail = gettext_lazy("Not found.")


class Forbidden(BookingError):
    code = "forbidden"
    status = 403
    default_detail = gettext_lazy("You are not allowed to do that.")


class ConflictOfInterest(Forbidden):
    code = "conflict_of_interest"
    default_detail = gettext_lazy("You cannot decide on a booking you requested or observe; ask another lead.")


class Busy(BookingError):
    code = "busy"
    status = 503
    default_detail = gettext_lazy("Ridealong is busy with another change to the same shift; try again in a moment.")
    retry_after = 1


class TooManyAttempts(BookingError):
    code = "too_many_attempts"
    status = 429
    default_detail = gettext_lazy("Too many failed sign-ins; try again later.")

    def __init__(self, detail: str | None = None, *, retry_after: int = 900):
        super().__init__(detail)
        self.retry_after = max(1, retry_after)


def raise_if_any(violations: list[RuleViolation]) -> None:
    if violations:
        raise violations[0]
