"""My paperwork (SPEC §19): read the confidentiality agreement and the safety briefing, and sign them."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..errors import BookingError
from ..services import paperwork


class SignForm(forms.Form):
    kind = forms.CharField(widget=forms.HiddenInput)
    version = forms.IntegerField(widget=forms.HiddenInput)
    full_name = forms.CharField(
        max_length=200,
        label=gettext_lazy("Your full name"),
        error_messages={"required": gettext_lazy("Type your full name to sign")},
    )
    agree = forms.BooleanField(
        label=gettext_lazy("I have read this and I agree to it"),
        error_messages={"required": gettext_lazy("Tick the box to say you have read and agree to it")},
    )


@login_required
def my_paperwork(request):
    person = request.user
    now = timezone.now()
    failed = None
    if request.method == "POST":
        form = SignForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                paperwork.sign(
                    person=person,
                    kind=data["kind"],
                    version=data["version"],
                    full_name=data["full_name"],
                    agree=data["agree"],
                    now=now,
                )
            except BookingError as error:
                for name, problems in (error.fields or {}).items():
                    form.add_error(name if name in form.fields else None, problems[0])
                if not error.fields:
                    form.add_error(None, error.detail)
            else:
                messages.success(request, _("Signed. Thank you: it is recorded as one of your clearances."))
                return redirect("web:paperwork")
        failed = form
    entries = paperwork.my_paperwork(person, now=now)
    for entry in entries:
        document = entry["document"]
        if failed is not None and failed.data.get("kind") == entry["kind"]:
            entry["form"] = failed
        elif document is not None:
            entry["form"] = SignForm(initial={"kind": entry["kind"], "version": document.version}, prefix=None)
        clearance = entry["clearance"]
        entry["valid"] = clearance is not None and (
            clearance.valid_until is None or clearance.valid_until >= now.date()
        )
    return render(request, "web/paperwork.html", {"entries": entries, "form": failed}, status=400 if failed else 200)
