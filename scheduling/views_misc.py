from django.db import connection
from django.http import HttpResponse, JsonResponse


def healthz(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def calendar_feed(request, token):
    return HttpResponse(status=404)
