"""Answers given before a view runs: bodies past the size limit (SPEC §6)."""

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render


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
    detail = f"The request body is larger than {limit} KB; send less."
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "too_large", "detail": detail}, status=413)
    from django.http import HttpResponse

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
