"""Language / Iaith (SPEC §20): the question asked once at the first sign-in, and the person's setting."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import urlencode

from .. import services
from ..languages import safe_next, supported


def after_sign_in(person, url: str) -> str:
    """Where a sign-in lands: first the language question, for someone who has not chosen one."""
    if person.profile.language is None and len(settings.LANGUAGES) > 1:
        return f"{reverse('web:language')}?{urlencode({'next': url})}"
    return url


@login_required
def choose_language(request):
    next_url = safe_next(request, request.POST.get("next") or request.GET.get("next"), reverse("web:home"))
    if request.method == "POST":
        language = request.POST.get("language")
        if supported(language):
            services.set_language(person=request.user, language=language, now=timezone.now())
            translation.activate(language)
            return redirect(next_url)
    return render(
        request,
        "web/language.html",
        {
            "choices": settings.LANGUAGES,
            "current": request.user.profile.language or request.LANGUAGE_CODE,
            "next": next_url,
            "asking": request.user.profile.language is None,
            "error": request.method == "POST",
        },
    )
