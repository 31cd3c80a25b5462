"""Forms parse input only; every rule is checked by the services they hand it to."""

import re
from datetime import date

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy
from django.utils.translation import gettext_lazy as _

from ..auth import locked_until, password_sign_in_off
from ..models import BookingStatus, ConsentPreference, Resource, ResourceKind, Station, TimeOfDay

User = get_user_model()


class NhsDateInput(forms.MultiWidget):
    """The NHS date input (SPEC §10): day, month and year boxes, not the browser's own date picker.

    A single ISO value under the field's own name (`?date_from=2026-12-08`, as links and scripts send)
    is read too."""

    nhs_date_input = True
    template_name = "django/forms/widgets/multiwidget.html"

    def __init__(self, attrs=None):
        box = {"inputmode": "numeric"}
        super().__init__(
            {
                "day": forms.TextInput({**box, "maxlength": 2}),
                "month": forms.TextInput({**box, "maxlength": 2}),
                "year": forms.TextInput({**box, "maxlength": 4}),
            },
            attrs,
        )

    def decompress(self, value):
        if isinstance(value, str):
            try:
                value = date.fromisoformat(value)
            except ValueError:
                return [None, None, None]
        if isinstance(value, date):
            return [value.day, value.month, value.year]
        return [None, None, None]

    def id_for_label(self, id_):
        # The error summary and the legend lead to the day box, as the design system's pattern does.
        return f"{id_}_day" if id_ else id_

    def value_from_datadict(self, data, files, name):
        if data.get(name):
            return data.get(name)
        return super().value_from_datadict(data, files, name)

    def value_omitted_from_data(self, data, files, name):
        return name not in data and super().value_omitted_from_data(data, files, name)


class BoundedDateField(forms.DateField):
    """A date a schedule can hold, entered in the NHS date input; far-off years are refused rather than
    overflowing date arithmetic, and errors say what to do in the content guide's words."""

    widget = NhsDateInput
    default_error_messages = {
        "invalid": gettext_lazy("Date must be a real date"),
        "incomplete": gettext_lazy("Date must include a day, month and year"),
    }

    def __init__(self, **kwargs):
        super().__init__(
            validators=[
                MinValueValidator(date(2000, 1, 1), gettext_lazy("Choose a date from the year 2000 on.")),
                MaxValueValidator(date(2100, 12, 31), gettext_lazy("Choose a date before the year 2101.")),
            ],
            **kwargs,
        )

    def to_python(self, value):
        if isinstance(value, list | tuple):
            parts = [str(part or "").strip() for part in value]
            if not any(parts):
                return None
            if not all(parts):
                raise forms.ValidationError(self.error_messages["incomplete"], code="incomplete")
            day, month, year = parts
            if not (day.isdigit() and month.isdigit() and year.isdigit() and len(year) == 4):
                raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
            try:
                return date(int(year), int(month), int(day))
            except ValueError:
                raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None
        return super().to_python(value)


class ShiftSearchForm(forms.Form):
    station = forms.ModelChoiceField(
        queryset=Station.objects.all(),
        required=False,
        label=gettext_lazy("Station"),
        empty_label=gettext_lazy("Any station"),
    )
    date_from = BoundedDateField(required=False, label=gettext_lazy("From"))
    date_to = BoundedDateField(required=False, label=gettext_lazy("To"))
    time_of_day = forms.ChoiceField(
        choices=[("", gettext_lazy("Day or night")), ("day", gettext_lazy("Day")), ("night", gettext_lazy("Night"))],
        required=False,
        label=gettext_lazy("Day or night"),
    )
    show_closed = forms.BooleanField(required=False, label=_("Show shifts you cannot request"))


class BookingRequestForm(forms.Form):
    include_me = forms.BooleanField(required=False, initial=True, label=gettext_lazy("I will observe"))
    others = forms.CharField(
        required=False,
        max_length=500,
        label=gettext_lazy("Other observers"),
        help_text=gettext_lazy(
            "Start typing a name, username or staff number; separate several with commas (for example: mo)."
        ),
        widget=forms.TextInput(attrs={"data-lookup": "/api/v1/people/lookup", "autocomplete": "off"}),
    )
    purpose = forms.CharField(
        max_length=2000,
        label=gettext_lazy("Purpose"),
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=gettext_lazy("What the observers hope to learn. The crew and the station lead read this."),
    )
    allow_waitlist = forms.BooleanField(
        required=False, initial=True, label=gettext_lazy("Put us on the waiting list if the shift is full")
    )

    def __init__(self, *args, requester=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.requester = requester

    def clean(self):
        data = super().clean()
        ids = [self.requester.pk] if data.get("include_me") else []
        for handle in filter(None, (h.strip() for h in (data.get("others") or "").split(","))):
            person, problem = find_colleague(handle)
            if person is None:
                self.add_error("others", problem)
            elif person.pk not in ids:
                ids.append(person.pk)
        if not ids and not self.errors:
            self.add_error("include_me", gettext("Choose at least one observer: yourself or someone else."))
        data["observer_ids"] = ids
        return data


CHOSEN = re.compile(r"\(([\w.@+-]+)\)\s*$")


def find_colleague(handle: str):
    """A colleague named as the look-up offers them ("Mo Mentor (mo)"), by username or staff number,
    or by a name only one active person has. Returns (person, None) or (None, why not)."""
    chosen = CHOSEN.search(handle)
    key = chosen.group(1) if chosen else handle
    active = User.objects.filter(is_active=True)
    person = active.filter(Q(username__iexact=key) | Q(profile__staff_number__iexact=key)).first()
    if person is not None:
        return person, None
    named = list(active.filter(profile__name__icontains=handle)[:2])
    if len(named) == 1:
        return named[0], None
    if named:
        return None, gettext(
            "More than one person matches “%(handle)s”; choose one from the list or give a username."
        ) % {"handle": handle}
    return None, gettext("No one matches “%(handle)s”. Give a name, username or staff number.") % {"handle": handle}


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}), label=gettext_lazy("Reason"))


class OptionalReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label=gettext_lazy("Reason (optional)"),
    )


class ConsentForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[
            ("give", gettext_lazy("Give")),
            ("decline", gettext_lazy("Decline")),
            ("withdraw", gettext_lazy("Withdraw")),
        ]
    )
    note = forms.CharField(
        max_length=2000,
        required=False,
        label=gettext_lazy("Private note (only leads see it)"),
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class PreferenceForm(forms.Form):
    consent_preference = forms.ChoiceField(
        choices=ConsentPreference.choices,
        widget=forms.RadioSelect,
        label=gettext_lazy("When someone asks to observe your shifts"),
    )


class SignInForm(AuthenticationForm):
    """Django's sign-in form, saying when a locked-out username or address may try again (SPEC §12)."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": gettext_lazy("Your username or password is wrong."),
    }
    locked_message = gettext_lazy("Too many failed sign-ins. Try again after %(time)s.")

    def clean(self):
        try:
            return super().clean()
        except forms.ValidationError:
            if password_sign_in_off(self.request):
                raise forms.ValidationError(
                    gettext("Password sign-in is turned off: use “Sign in with your organisation account”."),
                    code="sso_only",
                ) from None
            until = locked_until(self.request)
            if until is not None:
                when = timezone.localtime(until).strftime("%H:%M")
                raise forms.ValidationError(self.locked_message, code="locked", params={"time": when}) from None
            raise


class AdminSignInForm(AdminAuthenticationForm, SignInForm):
    """The admin's sign-in shares the lockout and its message."""


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        label=gettext_lazy("Name"),
        help_text=gettext_lazy("What the token is for, so you can tell it apart later."),
    )


class ReflectionForm(forms.Form):
    text = forms.CharField(
        max_length=10000,
        widget=forms.Textarea(attrs={"rows": 6}),
        label=gettext_lazy("Your reflection"),
        help_text=gettext_lazy("What you saw and what you learned. Only you can read it unless you share it."),
    )
    shared = forms.BooleanField(required=False, label=gettext_lazy("Share with the other observers of this ride-along"))


class ActionForm(forms.Form):
    text = forms.CharField(max_length=2000, label=gettext_lazy("Action"), widget=forms.Textarea(attrs={"rows": 2}))
    owner = forms.TypedChoiceField(coerce=int, label=gettext_lazy("Who will do it"))
    due_on = BoundedDateField(required=False, label=gettext_lazy("Due on"))

    def __init__(self, *args, owners=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = list(owners)


class FeedbackForm(forms.Form):
    text = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        label=gettext_lazy("Feedback for the observers"),
        help_text=gettext_lazy("They will read it as from “a crew member”."),
    )


class StationBookingsForm(forms.Form):
    date_from = BoundedDateField(required=False, label=gettext_lazy("From"))
    date_to = BoundedDateField(required=False, label=gettext_lazy("To"))
    status = forms.ChoiceField(
        required=False,
        label=gettext_lazy("State"),
        choices=[("", gettext_lazy("Any state"))] + list(BookingStatus.choices),
    )
    resource = forms.ModelChoiceField(
        queryset=Resource.objects.none(),
        required=False,
        label=gettext_lazy("Vehicle or desk"),
        empty_label=gettext_lazy("Any vehicle or desk"),
    )
    observer = forms.CharField(required=False, max_length=100, label=gettext_lazy("Observer's name"))

    def __init__(self, *args, station=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["resource"].queryset = Resource.objects.filter(station=station).order_by("call_sign")


class PersonField(forms.CharField):
    """A person named by username or staff number."""

    def clean(self, value):
        value = super().clean(value)
        person = (
            User.objects.filter(Q(username__iexact=value) | Q(profile__staff_number__iexact=value), is_active=True)
            .select_related("profile")
            .first()
        )
        if person is None:
            raise forms.ValidationError(gettext("No one active has that username or staff number."))
        return person


class ClearanceForm(forms.Form):
    person = PersonField(max_length=150, label=gettext_lazy("Username or staff number"))
    kind = forms.ChoiceField(
        label=gettext_lazy("Clearance"),
        choices=[
            ("dbs", gettext_lazy("DBS check")),
            ("confidentiality", gettext_lazy("Confidentiality agreement")),
            ("briefing", gettext_lazy("Safety briefing")),
        ],
        widget=forms.RadioSelect,
    )
    valid_from = BoundedDateField(label=gettext_lazy("Valid from"))
    valid_until = BoundedDateField(
        required=False, label=gettext_lazy("Valid until"), help_text=gettext_lazy("Leave empty if it does not expire.")
    )
    reference = forms.CharField(required=False, max_length=200, label=gettext_lazy("Reference (certificate number)"))

    def clean(self):
        data = super().clean()
        start, end = data.get("valid_from"), data.get("valid_until")
        if start and end and end < start:
            self.add_error("valid_until", gettext("The clearance must end on or after the day it starts."))
        return data


class AskDateForm(BookingRequestForm):
    """Ask a station for a date (SPEC §17); the observers are named as on a booking request."""

    station = forms.ModelChoiceField(
        queryset=Station.objects.all(),
        label=_("Station"),
        empty_label=_("Choose a station"),
        error_messages={"required": _("Choose the station you want to visit")},
    )
    date_from = BoundedDateField(
        label=_("First date you could come"), error_messages={"required": _("Enter the first date you could come")}
    )
    date_to = BoundedDateField(
        label=_("Last date you could come"),
        help_text=_("Up to 62 days after the first date."),
        error_messages={"required": _("Enter the last date you could come")},
    )
    time_of_day = forms.ChoiceField(
        label=_("Day or night"),
        choices=TimeOfDay.choices,
        initial=TimeOfDay.ANY,
        widget=forms.RadioSelect,
    )
    resource_kind = forms.ChoiceField(
        label=_("Kind of vehicle or desk"),
        required=False,
        choices=[("", _("Any"))] + list(ResourceKind.choices),
    )
    field_order = ["station", "date_from", "date_to", "time_of_day", "resource_kind", "include_me", "others", "purpose"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["allow_waitlist"]
        self.fields["purpose"].error_messages["required"] = _("Enter why you want to observe the crew")


# What to do, in the NHS content guide's words, when a required field is left empty (never "This field is
# required."). The first error message a person meets after a failed submit.
REQUIRED_MESSAGES = {
    (BookingRequestForm, "purpose"): _("Enter why you want to observe the crew"),
    (ReasonForm, "reason"): _("Enter a reason"),
    (ApiTokenForm, "name"): _("Enter a name for the token, so you can tell it apart later"),
    (ReflectionForm, "text"): _("Enter your reflection"),
    (ActionForm, "text"): _("Enter the action"),
    (ActionForm, "owner"): _("Choose who will do it"),
    (FeedbackForm, "text"): _("Enter your feedback for the observers"),
    (ClearanceForm, "person"): _("Enter the person's username or staff number"),
    (ClearanceForm, "kind"): _("Choose the kind of clearance"),
    (ClearanceForm, "valid_from"): _("Enter the date the clearance starts"),
    (ConsentForm, "decision"): _("Choose give, decline or withdraw"),
    (PreferenceForm, "consent_preference"): _("Choose when you want to be asked"),
    (SignInForm, "username"): _("Enter your username"),
    (SignInForm, "password"): _("Enter your password"),
}
for (form_class, field_name), message in REQUIRED_MESSAGES.items():
    form_class.base_fields[field_name].error_messages = {
        **form_class.base_fields[field_name].error_messages,
        "required": message,
    }
