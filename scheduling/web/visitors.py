"""Inviting a visitor, and the invitation link's page (SPEC §19)."""

from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .. import access
from ..errors import BookingError
from ..services import visitors
from .answer import private
from .language import after_sign_in

BACKEND = "scheduling.auth.ThrottledModelBackend"
REFUSED = {
    "used": (gettext_lazy("This invitation has been used"), gettext_lazy("Sign in with the password you set.")),
    "expired": (
        gettext_lazy("This invitation has expired"),
        gettext_lazy("Invitations last 14 days. Ask the person who invited you to send a new one."),
    ),
    "superseded": (
        gettext_lazy("This invitation has been replaced"),
        gettext_lazy("A newer invitation was sent to you. Use the link in the latest e-mail."),
    ),
    "altered": (
        gettext_lazy("This invitation link is not valid"),
        gettext_lazy("Check that you copied the whole link from the e-mail, or ask for a new invitation."),
    ),
}


class InviteForm(forms.Form):
    name = forms.CharField(
        max_length=200,
        label=gettext_lazy("Their full name"),
        error_messages={"required": gettext_lazy("Enter the visitor's full name")},
    )
    email = forms.CharField(
        max_length=254,
        label=gettext_lazy("Their e-mail address"),
        error_messages={"required": gettext_lazy("Enter the visitor's e-mail address")},
    )


class PasswordForm(forms.Form):
    password = forms.CharField(
        widget=forms.PasswordInput,
        label=gettext_lazy("Choose a password"),
        help_text=gettext_lazy("At least 12 characters, not a common password and not all numbers."),
        error_messages={"required": gettext_lazy("Choose a password")},
    )


@login_required
def invite(request):
    if not access.may_invite(request.user):
        return render(request, "web/not_found.html", status=404)
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            visitors.invite(actor=request.user, now=timezone.now(), **form.cleaned_data)
        except BookingError as error:
            for name, problems in (error.fields or {}).items():
                form.add_error(name if name in form.fields else None, problems[0])
            if not error.fields:
                form.add_error("email", error.detail)
        else:
            messages.success(request, _("Invitation sent. They can now be named as an observer."))
            return redirect("web:invite")
    return render(request, "web/invite.html", {"form": form}, status=400 if form.errors else 200)


def invitation(request, token):
    """GET shows the invitation and changes nothing; only the POST sets the password and signs them in."""
    now = timezone.now()
    found, why = visitors.read(token, now=now)
    if found is None:
        title, detail = REFUSED[why]
        page = render(request, "web/answer_refused.html", {"title": title, "detail": detail}, status=410)
        return private(page)
    form = PasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            person = visitors.accept(token=token, password=form.cleaned_data["password"], now=now)
        except BookingError as error:
            form.add_error("password", (error.fields or {}).get("password", [error.detail])[0])
        else:
            login(request, person, backend=BACKEND)
            messages.success(request, _("Welcome to Ridealong. Please read and sign your paperwork."))
            return redirect(after_sign_in(person, reverse("web:paperwork")))
    page = render(
        request, "web/invitation.html", {"form": form, "invitation": found}, status=400 if form.errors else 200
    )
    return private(page)
