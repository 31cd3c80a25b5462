"""The page a one-tap e-mail link opens (SPEC §8): it works signed out, and only its POST acts."""

from django import forms
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.cache import never_cache

from .. import answers
from ..errors import BookingError
from ..notifications import friendly_when
from .present import observers_of, paperwork_lines

REFUSED = {
    "altered": (
        gettext_lazy("This link is not valid"),
        gettext_lazy("The link has been changed or cut short. Use the link in the e-mail as it is."),
    ),
    "expired": (
        gettext_lazy("This link has expired"),
        gettext_lazy("The shift has started, so the answer can no longer be given."),
    ),
    "used": (
        gettext_lazy("This link has been used"),
        gettext_lazy("The answer was given with this link already. Nothing more is needed."),
    ),
    "superseded": (
        gettext_lazy("This has already been answered"),
        gettext_lazy(
            "The answer was given another way (in Ridealong or by someone else), or the booking has moved on."
        ),
    ),
}
WORDS = {
    ("crew", "give"): gettext_lazy("Give consent"),
    ("crew", "decline"): "Decline",
    ("lead", "approve"): "Approve",
    ("lead", "decline"): "Decline",
}


class AnswerForm(forms.Form):
    text = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, found=None, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["text"]
        if found.role == "lead" and found.answer == "decline":
            field.required = True
            field.label = gettext("Reason for declining")
            field.help_text = gettext("The requester and the observers read this.")
        else:
            field.label = gettext("Private note (optional)") if found.role == "crew" else gettext("Note (optional)")
            field.help_text = gettext("Only the station's leads see it.") if found.role == "crew" else ""


@never_cache
def answer(request, token):
    now = timezone.now()
    try:
        found = answers.read(token, now=now)
    except answers.BadLink as bad:
        return refused(request, bad.reason)
    form = AnswerForm(request.POST if request.method == "POST" else None, found=found)
    if request.method == "POST" and form.is_valid():
        try:
            answers.act(token, text=form.cleaned_data["text"], now=now)
        except answers.BadLink as bad:
            return refused(request, bad.reason)
        except BookingError as error:
            form.add_error("text", error.detail)
        else:
            return private(
                render(request, "web/answer_done.html", {"found": found, "words": WORDS[(found.role, found.answer)]})
            )
    booking = found.booking
    context = {
        "found": found,
        "form": form,
        "words": WORDS[(found.role, found.answer)],
        "booking": booking,
        "when": friendly_when(booking.shift),
        "observers": observers_of(booking),
        # The lead decides with what they need in view: each crew member's answer and note (SPEC §10, §4).
        "consents": booking.consents.select_related("person__profile") if found.role == "lead" else None,
        "paperwork": paperwork_lines(booking),
    }
    return private(render(request, "web/answer.html", context, status=400 if form.errors else 200))


def refused(request, reason: str):
    title, detail = REFUSED[reason]
    return private(
        render(
            request,
            "web/answer_refused.html",
            {"title": title, "detail": detail},
            status=410 if reason != "altered" else 404,
        )
    )


def private(response):
    # The address holds a secret: a Referer carries only the origin, never the path, even to the page's own
    # styles and scripts (whose requests a proxy logs). strict-origin, not no-referrer: with no-referrer
    # browsers send `Origin: null` on the page's own POST, which CSRF refuses.
    response["Referrer-Policy"] = "strict-origin"
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex"
    return response
