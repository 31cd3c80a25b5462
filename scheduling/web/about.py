"""The footer's pages (SPEC §10): privacy notice, accessibility statement, cookies; open to everyone."""

from django.conf import settings
from django.shortcuts import render


def _page(request, template: str):
    context = {
        "organisation": settings.RIDEALONG_ORGANISATION,
        "contact_email": settings.RIDEALONG_CONTACT_EMAIL,
        "dpo_email": settings.RIDEALONG_DPO_EMAIL,
        "retention_years": round(settings.RIDEALONG_RETENTION_DAYS / 365),
    }
    return render(request, f"web/about/{template}.html", context)


def privacy(request):
    return _page(request, "privacy")


def accessibility(request):
    return _page(request, "accessibility")


def cookies(request):
    return _page(request, "cookies")
