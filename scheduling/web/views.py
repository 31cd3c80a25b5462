from django.http import HttpResponse


def booking_detail(request, pk):
    return HttpResponse("")
