from django import template
from django.utils.translation import gettext_lazy

from ..rules import CLEARANCE_WORDS

register = template.Library()

REASONS = {
    "requester_cancelled": gettext_lazy("cancelled by the requester"),
    "observer_cancelled": gettext_lazy("the last observer cancelled their place"),
    "lead_cancelled": gettext_lazy("cancelled by the station"),
    "lead_declined": gettext_lazy("declined by the station"),
    "crew_declined": gettext_lazy("a crew member declined"),
    "consent_withdrawn": gettext_lazy("a crew member withdrew consent"),
    "shift_cancelled": gettext_lazy("the shift was cancelled"),
    "shift_changed": gettext_lazy("the shift changed and no longer fits"),
    "station_suspended": gettext_lazy("observations at the station are suspended"),
    "clearance_lapsed": gettext_lazy("a clearance no longer covers the shift"),
    "seats_reduced": gettext_lazy("the shift has fewer seats now"),
}


@register.filter
def spaced(value: str) -> str:
    """`consent_given` → `consent given`."""
    return (value or "").replace("_", " ")


@register.filter
def reason_text(code: str) -> str:
    return REASONS.get(code, spaced(code))


@register.filter
def quoted(text) -> str:
    """People's own words in a plain-text e-mail, each line behind "> ", so they cannot pass for its own lines."""
    lines = str(text or "").splitlines() or [""]
    return "\n".join(f"  > {line}" for line in lines)


@register.filter
def clearance_words(kind) -> str:
    return CLEARANCE_WORDS.get(kind, kind)
