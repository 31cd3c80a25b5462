"""Answers given before a view runs: bodies past the size limit (SPEC §6)."""

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext

from .languages import from_accept_language, from_request, language_of, supported
from .services.people import set_language


class RefuseOversizedBodies:
    """A body past the limit is refused from its Content-Length alone, before anything reads it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return too_large(request)
        return self.get_response(request)


def too_large(request):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 1024
    with translation.override(from_accept_language(request) or settings.LANGUAGE_CODE):
        detail = gettext("The request body is larger than %(n)s KB; send less.") % {"n": limit}
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "too_large", "detail": detail}, status=413)
    return HttpResponse(detail, status=413, content_type="text/plain; charset=utf-8")


class PrivatePagesAreNotStored:
    """A page shown to someone signed in is theirs alone: no browser or proxy keeps a copy (`no-store`).

    Answers that set their own Cache-Control (the calendar feed, static files) keep it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not response.has_header("Cache-Control"):
            response["Cache-Control"] = "no-store"
        return response


# The pages a visitor from outside the trust reaches (SPEC §19); any other answers 404.
VISITOR_PAGES = {
    "home",
    "login",
    "logout",
    "bookings",
    "booking",
    "cancel",
    "booking-ics",
    "reflect",
    "add-action",
    "action-done",
    "feedback",
    "learning",
    "my-data",
    "language",
    "calendar",
    "calendar-new",
    "paperwork",
    "api-tokens",
    "privacy",
    "accessibility",
    "cookies",
    "invitation",
    "answer",
}


class VisitorsKeepToTheirOwnPages:
    """A visitor signed in sees their own bookings, calendar, learning log, data and paperwork, nothing else.
    The API asks the same of its routes (api/permissions.py); the admin and static files are left to themselves."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        profile = getattr(user, "profile", None)
        match = request.resolver_match
        if profile is None or not profile.is_visitor or match is None or match.app_name != "web":
            return None
        if match.url_name in VISITOR_PAGES:
            return None
        return render(request, "web/not_found.html", status=404)


class ReadersLanguage:
    """Activates the reader's language for the request and says so in `Content-Language`."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        chosen = supported(request.GET.get("lang"))
        user = getattr(request, "user", None)
        signed_in = user is not None and user.is_authenticated
        if chosen and signed_in and request.method in ("GET", "HEAD"):
            set_language(person=user, language=chosen, now=timezone.now())
        if chosen:
            language = chosen
        elif request.path.startswith("/api/"):
            language = from_accept_language(request) or (language_of(user) if signed_in else settings.LANGUAGE_CODE)
        elif signed_in and supported(getattr(getattr(user, "profile", None), "language", None)):
            language = user.profile.language
        else:
            language = from_request(request)
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", translation.get_language() or language)
        patch_vary_headers(response, ("Accept-Language", "Cookie"))
        if chosen:
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME,
                chosen,
                max_age=settings.LANGUAGE_COOKIE_AGE,
                samesite=settings.LANGUAGE_COOKIE_SAMESITE,
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
            )
        return response
