"""Answers given before a view runs: bodies past the size limit (SPEC §6)."""

from django.conf import settings
from django.http import JsonResponse


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
