"""Paperwork signed online (SPEC §19): the current documents, and an observer signing their own."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import dates, notifications
from ..errors import Forbidden, Invalid, NotFound, RuleViolation
from ..languages import writing_to
from ..models import BookingStatus, Clearance, PaperworkDocument, Place, PlaceState, Station, display_name
from ..rules import CLEARANCE_WORDS
from .base import change_with_bookings, is_admin, record_event, write_transaction
from .bookings import settle


def online_kinds() -> list[str]:
    return list(settings.RIDEALONG_ONLINE_CLEARANCES)


def current_documents() -> dict[str, PaperworkDocument]:
    """The newest published version of each online kind, by kind."""
    current: dict[str, PaperworkDocument] = {}
    for document in PaperworkDocument.objects.filter(kind__in=online_kinds()).order_by("kind", "-version"):
        current.setdefault(document.kind, document)
    return current


def my_paperwork(person, *, now: datetime) -> list[dict]:
    """For each online kind: its current document and the person's latest clearance of that kind (or None)."""
    documents = current_documents()
    latest: dict[str, Clearance] = {}
    mine = Clearance.objects.filter(person=person, kind__in=online_kinds()).select_related("document")
    for clearance in mine.order_by("kind", "-valid_until", "-id"):
        latest.setdefault(clearance.kind, clearance)
    return [{"kind": kind, "document": documents.get(kind), "clearance": latest.get(kind)} for kind in online_kinds()]


def publish(*, actor, kind: str, title: str, body: str, valid_days: int = 365, now: datetime, into=None):
    """Publish the next version of an online kind's document (admins); what was signed before stays valid."""
    if actor is not None and not is_admin(actor):
        raise Forbidden(_("Only admins publish paperwork."))
    if kind not in online_kinds():
        raise Invalid(
            _("That kind is not signed online."),
            fields={"kind": [_("Choose one of: %(kinds)s") % {"kinds": ", ".join(online_kinds())}]},
        )
    with write_transaction():
        latest = PaperworkDocument.objects.select_for_update().filter(kind=kind).order_by("-version").first()
        document = into or PaperworkDocument()
        document.kind, document.title, document.body, document.valid_days = kind, title, body, valid_days
        document.version = (latest.version if latest else 0) + 1
        document.published_at = now
        document.save()
        record_event(
            booking=None,
            actor=actor,
            action="paperwork_published",
            now=now,
            code=kind,
            note=f"{document.title} v{document.version}",
        )
    return document


def _same_name(typed: str, name: str) -> bool:
    squash = lambda text: "".join(str(text or "").split()).casefold()  # noqa: E731 - one line, used twice
    return bool(squash(typed)) and squash(typed) == squash(name)


def sign(*, person, kind: str, version, full_name: str, agree: bool, now: datetime) -> Clearance:
    """The person signs the current version of an online kind: a clearance from today for its `valid_days`,
    an audit event on the person, and any pending booking of theirs this completes is approved at once."""
    if kind not in online_kinds():
        raise NotFound(_("There is no paperwork of that kind to sign."))
    document = current_documents().get(kind)
    if document is None:
        raise NotFound(_("There is no paperwork of that kind to sign yet."))
    fields = {}
    if agree is not True:
        fields["agree"] = [_("Tick the box to say you have read and agree to it")]
    if not _same_name(full_name, display_name(person)):
        fields["full_name"] = [_("Type your full name as Ridealong has it: %(name)s") % {"name": display_name(person)}]
    if fields:
        raise Invalid(_("The signature is not complete."), fields=fields)
    if version != document.version:
        raise RuleViolation(
            _("A newer version of this document has been published: read it, then sign that one."),
            code="document_changed",
        )
    # The person's own date, in the trust's zone: an online signature belongs to no station.
    today = timezone.localdate(now)

    def find():
        return (
            person.places.filter(state=PlaceState.HELD, booking__status=BookingStatus.PENDING, shift__starts_at__gt=now)
            .values_list("booking_id", flat=True)
            .distinct()
        )

    def apply(bookings):
        clearance = Clearance.objects.create(
            person=person,
            kind=kind,
            valid_from=today,
            valid_until=today + timedelta(days=document.valid_days),
            reference=f"signed online: {document.title} v{document.version}"[:200],
            document=document,
            recorded_by=person,
        )
        record_event(
            booking=None,
            subject=person,
            actor=person,
            action="paperwork_signed",
            now=now,
            code=kind,
            note=f"{document.title} v{document.version}",
        )
        for booking in bookings:
            # Under the bookings' locks (SPEC §5.3): the signature may have been the last thing missing.
            settle(booking, actor=None, now=now)
        return clearance

    return change_with_bookings(find, apply, extra_person_ids=[person.pk])


REMIND_BEFORE = (30, 7)


def queue_expiry_reminders(*, now: datetime) -> int:
    """30 and again 7 days before a clearance ends, tell its holder (SPEC §19) — once each per clearance — when
    it is a kind they sign online, or a held booking of theirs is still to come: online kinds link to sign the
    current version, the others say who records them. A clearance already renewed is left alone."""
    today = timezone.localdate(now)
    queued = 0
    online = set(online_kinds())
    ending = Clearance.objects.filter(
        valid_until__gte=today, valid_until__lte=today + timedelta(days=max(REMIND_BEFORE))
    )
    for clearance in ending.select_related("person__profile").order_by("id"):
        days_left = (clearance.valid_until - today).days
        # The nearest reminder due: 7 once a week is left, else 30.
        when = min(d for d in REMIND_BEFORE if days_left <= d)
        renewed = Clearance.objects.filter(person=clearance.person, kind=clearance.kind).exclude(pk=clearance.pk)
        if renewed.filter(Q(valid_until__isnull=True) | Q(valid_until__gt=clearance.valid_until)).exists():
            continue
        person = clearance.person
        upcoming = Place.objects.filter(person=person, state=PlaceState.HELD, shift__starts_at__gt=now)
        if clearance.kind not in online and not upcoming.exists():
            continue
        with writing_to(person):
            words = CLEARANCE_WORDS.get(clearance.kind, clearance.kind)
            if clearance.kind in online:
                lines = [_("Read and sign the current version on My paperwork; it takes a few minutes.")]
                links = [(_("My paperwork"), settings.SITE_URL + reverse("web:paperwork"))]
            else:
                stations = Station.objects.filter(shifts__places__in=upcoming).distinct()
                leads = sorted({display_name(p) for s in stations for p in s.leads.all()})
                lines = [
                    _("A station lead records its renewal: ask %(leads)s.") % {"leads": ", ".join(leads) or _("a lead")}
                ]
                links = []
            notifications.queue_note(
                person,
                "clearance_ending",
                subject=_("Your %(what)s ends on %(day)s")
                % {"what": words, "day": dates.written(clearance.valid_until, "j M Y")},
                headline=_("Your %(what)s ends in %(n)s days.") % {"what": words, "n": days_left},
                lines=lines,
                links=links,
                now=now,
                dedupe=f"clearance-ending-{when}:{clearance.pk}",
            )
        queued += 1
    return queued
