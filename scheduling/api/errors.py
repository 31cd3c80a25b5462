"""One error body for every failure: {"code", "detail", "fields"?} (SPEC §6)."""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from django.utils.translation import gettext, gettext_lazy
from rest_framework import exceptions, status
from rest_framework.response import Response

from ..errors import BookingError

logger = logging.getLogger(__name__)

CODES = {
    exceptions.NotAuthenticated: (
        "not_authenticated",
        gettext_lazy(
            "Sign in first: send `Authorization: Bearer <token>` (or `Token <token>`), from POST /api/v1/auth/token."
        ),
    ),
    exceptions.AuthenticationFailed: (
        "not_authenticated",
        gettext_lazy("The token is unknown, expired or revoked; make a new one."),
    ),
    exceptions.PermissionDenied: ("forbidden", gettext_lazy("You are not allowed to do that.")),
    exceptions.NotFound: ("not_found", gettext_lazy("Not found.")),
    exceptions.MethodNotAllowed: ("method_not_allowed", gettext_lazy("That method is not allowed here.")),
    exceptions.NotAcceptable: ("not_acceptable", gettext_lazy("Ask for application/json.")),
    exceptions.UnsupportedMediaType: ("unsupported_media_type", gettext_lazy("Send the body as application/json.")),
    exceptions.Throttled: ("throttled", gettext_lazy("Too many requests; wait a little and try again.")),
}


def _is_index_messages(key, value) -> bool:
    return isinstance(key, int) and isinstance(value, list) and all(isinstance(m, str) for m in value)


def _flatten(detail) -> dict[str, list[str]]:
    """DRF's error detail as one flat map of field to messages: nested fields get dotted names (`crew.0.role`)."""
    flat: dict[str, list[str]] = {}

    def walk(value, name: str) -> None:
        if name and isinstance(value, dict) and value and all(_is_index_messages(k, v) for k, v in value.items()):
            # A list of plain values (observer ids): its messages belong to the list's own name.
            for item in value.values():
                walk(item, name)
            return
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{name}.{key}" if name else str(key))
        elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
            for index, item in enumerate(value):
                walk(item, f"{name}.{index}" if name else str(index))
        elif isinstance(value, list):
            flat.setdefault(name or "non_field_errors", []).extend(str(v) for v in value)
        else:
            flat.setdefault(name or "non_field_errors", []).append(str(value))

    walk(detail, "")
    return flat


def _first_message(fields) -> str:
    for key, value in fields.items():
        while isinstance(value, dict | list) and value:
            value = next(iter(value.values())) if isinstance(value, dict) else value[0]
        if isinstance(value, str):
            return value if key == "non_field_errors" else f"{key}: {value}"
    return gettext("Some of the input is not valid.")


def error_response(code: str, detail: str, status_code: int, *, fields=None, headers=None) -> Response:
    body = {"code": code, "detail": detail}
    if fields is not None:
        body["fields"] = fields
    return Response(body, status=status_code, headers=headers)


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        return error_response("too_large", gettext("The request body is too large; send less."), 413)
    if isinstance(exc, BookingError):
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        fields = exc.fields if exc.fields is not None else ({} if exc.status == 400 else None)
        return error_response(exc.code, exc.detail, exc.status, fields=fields, headers=headers)
    if isinstance(exc, Http404):
        return error_response("not_found", gettext("Not found."), status.HTTP_404_NOT_FOUND)
    if isinstance(exc, DjangoPermissionDenied):
        return error_response("forbidden", gettext("You are not allowed to do that."), status.HTTP_403_FORBIDDEN)
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        return error_response("invalid", _first_message(fields), status.HTTP_400_BAD_REQUEST, fields=fields)
    if isinstance(exc, exceptions.ParseError):
        return error_response(
            "invalid", gettext("The body is not valid JSON: %(why)s") % {"why": exc.detail}, 400, fields={}
        )
    if isinstance(exc, exceptions.APIException):
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        for cls, (code, detail) in CODES.items():
            if isinstance(exc, cls):
                return error_response(code, detail, exc.status_code, headers=headers or None)
        return error_response("error", str(exc.detail), exc.status_code, headers=headers or None)
    return None
