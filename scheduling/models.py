"""Ridealong's tables and the invariants the database can hold for us; no workflow here."""

import uuid
import zoneinfo
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from .text import validate_single_line


def validate_timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            gettext_lazy("%(value)r is not an IANA time zone name (e.g. Europe/London).") % {"value": value}
        ) from None


class ConsentPreference(models.TextChoices):
    ASK = "ask", gettext_lazy("Ask me each time")
    ALWAYS = "always", gettext_lazy("Always consent")
    NEVER = "never", gettext_lazy("Never host observers")


class Language(models.TextChoices):
    """Each named in itself (SPEC §20); `RIDEALONG_LANGUAGES` says which are offered."""

    ENGLISH = "en", "English"
    WELSH = "cy", "Cymraeg"


class Profile(models.Model):
    """The person behind a Django user; its primary key is the user's id, so a person id is a user id."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="profile"
    )
    name = models.CharField(max_length=200, blank=True, validators=[validate_single_line])
    staff_number = models.CharField(max_length=40, unique=True, null=True, blank=True)
    date_of_birth = models.DateField(null=True, blank=True)
    is_requester = models.BooleanField(default=False)
    consent_preference = models.CharField(
        max_length=10, choices=ConsentPreference.choices, default=ConsentPreference.ASK
    )
    # Reminder e-mails (24 hours before, actions due) can be turned off; decisions and changes cannot (SPEC §8).
    reminders = models.BooleanField(default=True)
    # The language pages, e-mails and the calendar feed are written in (SPEC §20); null: not chosen yet,
    # the site's default until they are asked at their next sign-in.
    language = models.CharField(max_length=8, null=True, blank=True, choices=Language.choices)
    # Bound on the first organisation sign-in (SPEC §12): later sign-ins match by the provider's (issuer, sub).
    # Invited from outside the trust (SPEC §19): no roles, and only their own bookings, paperwork and data.
    is_visitor = models.BooleanField(default=False)
    oidc_issuer = models.CharField(max_length=500, blank=True)
    oidc_subject = models.CharField(max_length=255, null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["oidc_issuer", "oidc_subject"],
                condition=models.Q(oidc_subject__isnull=False),
                name="profile_one_person_per_oidc_subject",
            )
        ]

    def __str__(self) -> str:
        return self.name or self.user.get_username()


def display_name(user) -> str:
    profile = getattr(user, "profile", None)
    return (profile.name if profile else "") or user.get_full_name() or user.get_username()


class Station(models.Model):
    code = models.CharField(max_length=16, unique=True, validators=[validate_single_line])
    name = models.CharField(max_length=200, validators=[validate_single_line])
    address = models.CharField(max_length=500, blank=True, validators=[validate_single_line])
    timezone = models.CharField(max_length=64, default="Europe/London", validators=[validate_timezone])
    min_notice_hours = models.PositiveIntegerField(default=72)
    max_observers_per_day = models.PositiveIntegerField(null=True, blank=True)
    crew_hosting_limit = models.PositiveIntegerField(null=True, blank=True, default=4)
    observer_limit_365d = models.PositiveIntegerField(null=True, blank=True)
    min_observer_age = models.PositiveIntegerField(default=18)
    suspended_until = models.DateTimeField(null=True, blank=True)
    suspension_reason = models.CharField(max_length=2000, blank=True)
    # False: observers ask for a date and the station places them (SPEC §17); True: they may pick a shift.
    allow_shift_choice = models.BooleanField(default=True)
    # An open request is placed at once on its fairest suggestion, with the system as actor (SPEC §17).
    auto_place_requests = models.BooleanField(default=False)
    leads = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="lead_of")

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


def is_night(starts_at: datetime, ends_at: datetime, tz) -> bool:
    """The one night rule (SPEC §17): starting at 17:00 or later or before 05:00 local time, or crossing
    local midnight. Shifts keep it in `Shift.is_night`, so lists and filters ask the same question."""
    start, end = starts_at.astimezone(tz), ends_at.astimezone(tz)
    return start.hour >= 17 or start.hour < 5 or end.date() != start.date()


def shift_label(call_sign: str, station_name: str, starts_at: datetime, ends_at: datetime, tz) -> str:
    """e.g. 'DA12 night shift, Loughborough', in the active language."""
    if is_night(starts_at, ends_at, tz):
        words = gettext("%(call_sign)s night shift, %(station)s")
    else:
        words = gettext("%(call_sign)s day shift, %(station)s")
    return words % {"call_sign": call_sign, "station": station_name}


class ResourceKind(models.TextChoices):
    AMBULANCE = "ambulance", gettext_lazy("Ambulance")
    RAPID_RESPONSE_CAR = "rapid_response_car", gettext_lazy("Rapid response car")
    CONTROL_DESK = "control_desk", gettext_lazy("Control desk")
    OTHER = "other", gettext_lazy("Other")


class Resource(models.Model):
    station = models.ForeignKey(Station, on_delete=models.PROTECT, related_name="resources")
    call_sign = models.CharField(max_length=32, validators=[validate_single_line])
    kind = models.CharField(max_length=32, choices=ResourceKind.choices, default=ResourceKind.AMBULANCE)
    observer_seats = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["station_id", "call_sign"]
        constraints = [
            models.UniqueConstraint(fields=["station", "call_sign"], name="resource_call_sign_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.call_sign} ({self.station.code})"


class ShiftStatus(models.TextChoices):
    SCHEDULED = "scheduled", gettext_lazy("Scheduled")
    CANCELLED = "cancelled", gettext_lazy("Cancelled")


class Shift(models.Model):
    external_ref = models.CharField(max_length=100, unique=True, null=True, blank=True)
    # The station is the resource's, copied here so that searches and locks need no join.
    station = models.ForeignKey(Station, on_delete=models.PROTECT, related_name="shifts")
    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="shifts")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    # The date of starts_at in the station's time zone, kept for the per-day capacity rule.
    local_date = models.DateField()
    # `is_night` of its times in the station's zone, kept so that SQL filters ask the same rule (SPEC §17).
    is_night = models.BooleanField(default=False)
    observer_seats = models.PositiveIntegerField(default=1)
    # Observers holding a place, recounted under the shift's lock whenever a place changes state,
    # so that searches compare two columns instead of counting places row by row.
    held_seats = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=ShiftStatus.choices, default=ShiftStatus.SCHEDULED)
    crew = models.ManyToManyField(settings.AUTH_USER_MODEL, through="CrewMember", related_name="crewed_shifts")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["starts_at", "id"]
        indexes = [
            # Covering on PostgreSQL for the shift search. `held_seats` stays out on purpose: it changes with
            # every booking, and an indexed column would cost each booking a full (non-HOT) row update.
            models.Index(
                fields=["station", "starts_at"],
                include=["id", "ends_at", "observer_seats", "status"],
                name="shift_station_starts_cover",
            ),
            models.Index(fields=["starts_at", "ends_at"]),
            models.Index(fields=["station", "local_date"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="shift_ends_after_start"),
        ]

    def __str__(self) -> str:
        return f"{self.resource.call_sign} {self.local_starts_at:%Y-%m-%d %H:%M}"

    @property
    def local_starts_at(self) -> datetime:
        return self.starts_at.astimezone(self.station.tz)

    @property
    def local_ends_at(self) -> datetime:
        return self.ends_at.astimezone(self.station.tz)

    @property
    def local_end_date(self) -> date:
        return self.local_ends_at.date()

    @property
    def label(self) -> str:
        return shift_label(self.resource.call_sign, self.station.name, self.starts_at, self.ends_at, self.station.tz)


class CrewRole(models.TextChoices):
    PARAMEDIC = "paramedic", gettext_lazy("Paramedic")
    TECHNICIAN = "technician", gettext_lazy("Technician")
    EMT = "emt", gettext_lazy("EMT")
    CALL_HANDLER = "call_handler", gettext_lazy("Call handler")
    CLINICIAN = "clinician", gettext_lazy("Clinician")
    OTHER = "other", gettext_lazy("Other")


class CrewMember(models.Model):
    shift = models.ForeignKey(Shift, on_delete=models.CASCADE, related_name="crew_members")
    person = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="crew_places")
    role = models.CharField(max_length=20, choices=CrewRole.choices)
    # Copies of the shift's interval and status so that PostgreSQL can forbid overlapping rosters.
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["shift", "person"], name="crew_once_per_shift"),
        ]

    def __str__(self) -> str:
        return f"{self.person} as {self.role}"


class ClearanceKind(models.TextChoices):
    DBS = "dbs", gettext_lazy("Enhanced DBS check")
    CONFIDENTIALITY = "confidentiality", gettext_lazy("Confidentiality agreement")
    BRIEFING = "briefing", gettext_lazy("Safety briefing")


class PaperworkDocument(models.Model):
    """A version of a document an observer reads and signs in Ridealong (SPEC §19). Published, never edited:
    a new version is a new row, and what was signed before it stays valid."""

    kind = models.CharField(max_length=40)
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=200, validators=[validate_single_line])
    body = models.TextField(help_text="Plain text; paragraphs separated by a blank line. Shown as text, never HTML.")
    valid_days = models.PositiveIntegerField(default=365)
    published_at = models.DateTimeField()

    class Meta:
        ordering = ["kind", "-version"]
        constraints = [models.UniqueConstraint(fields=["kind", "version"], name="one_version_number_per_kind")]

    def __str__(self) -> str:
        return f"{self.title} v{self.version}"


class Clearance(models.Model):
    person = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="clearances")
    kind = models.CharField(max_length=40)
    valid_from = models.DateField()
    valid_until = models.DateField(null=True, blank=True)
    reference = models.CharField(max_length=200, blank=True)
    # The document signed online for it (SPEC §19): its text stays readable as long as the clearance is kept.
    document = models.ForeignKey(PaperworkDocument, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["person_id", "kind", "valid_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gte=models.F("valid_from")),
                name="clearance_until_after_from",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} from {self.valid_from}"


class BookingStatus(models.TextChoices):
    PENDING = "pending", gettext_lazy("Pending")
    APPROVED = "approved", gettext_lazy("Approved")
    WAITLISTED = "waitlisted", gettext_lazy("Waitlisted")
    DECLINED = "declined", gettext_lazy("Declined")
    CANCELLED = "cancelled", gettext_lazy("Cancelled")
    EXPIRED = "expired", gettext_lazy("Expired")


HELD_STATUSES = (BookingStatus.PENDING, BookingStatus.APPROVED)
LIVE_STATUSES = (BookingStatus.PENDING, BookingStatus.APPROVED, BookingStatus.WAITLISTED)
FINAL_STATUSES = (BookingStatus.DECLINED, BookingStatus.CANCELLED, BookingStatus.EXPIRED)


class Outcome(models.TextChoices):
    ATTENDED = "attended", gettext_lazy("Attended")
    ENDED_EARLY = "ended_early", gettext_lazy("Ended early")
    NO_SHOW = "no_show", gettext_lazy("No show")


class Booking(models.Model):
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    shift = models.ForeignKey(Shift, on_delete=models.PROTECT, related_name="bookings")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="requested_bookings"
    )
    purpose = models.TextField(max_length=2000)
    allow_waitlist = models.BooleanField(default=True)
    status = models.CharField(max_length=16, choices=BookingStatus.choices)
    cancel_reason = models.CharField(max_length=40, blank=True)
    status_note = models.TextField(blank=True)
    lead_approved = models.BooleanField(default=False)
    lead_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    # When the observers left, for an outcome of `ended_early` (SPEC §5.1): within the shift.
    left_at = models.DateTimeField(null=True, blank=True)
    revision = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    # When the status last changed: cancelled events leave the feed 14 days after it.
    status_changed_at = models.DateTimeField()
    # The open request it was placed for (SPEC §17), if any: its end moves the request on.
    from_request = models.ForeignKey(
        "OpenRequest", on_delete=models.PROTECT, null=True, blank=True, related_name="bookings"
    )

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["shift", "status", "created_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=BookingStatus.values), name="booking_status_valid"),
            models.CheckConstraint(condition=Q(revision__gte=1), name="booking_revision_positive"),
        ]

    def __str__(self) -> str:
        return f"Booking {self.pk} ({self.status})"


class PlaceState(models.TextChoices):
    HELD = "held", gettext_lazy("Held")
    WAITLISTED = "waitlisted", gettext_lazy("Waitlisted")
    RELEASED = "released", gettext_lazy("Released")


class Place(models.Model):
    """One observer's place in a booking."""

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="places")
    person = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="places")
    # Copies of the shift, its interval and the place's state, so the database can hold
    # "one live place per observer per shift" and (PostgreSQL) "no overlapping held places".
    shift = models.ForeignKey(Shift, on_delete=models.PROTECT, related_name="places")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    state = models.CharField(max_length=12, choices=PlaceState.choices)
    cancelled_by_observer = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["person", "state", "starts_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["shift", "person"],
                condition=~Q(state="released"),
                name="one_live_place_per_observer_per_shift",
            ),
            models.UniqueConstraint(fields=["booking", "person"], name="observer_once_per_booking"),
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="place_interval_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.person} ({self.state})"


class ConsentState(models.TextChoices):
    PENDING = "pending", gettext_lazy("Pending")
    GIVEN = "given", gettext_lazy("Given")
    DECLINED = "declined", gettext_lazy("Declined")
    WITHDRAWN = "withdrawn", gettext_lazy("Withdrawn")


class ConsentSource(models.TextChoices):
    PREFERENCE = "preference", gettext_lazy("Preference")
    PERSON = "person", gettext_lazy("Person")


class Consent(models.Model):
    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="consents")
    person = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="consents")
    state = models.CharField(max_length=12, choices=ConsentState.choices, default=ConsentState.PENDING)
    source = models.CharField(max_length=12, choices=ConsentSource.choices, blank=True)
    at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["booking", "person"], name="consent_once_per_crew")]

    def __str__(self) -> str:
        return f"{self.person}: {self.state}"


class TimeOfDay(models.TextChoices):
    DAY = "day", gettext_lazy("Day")
    NIGHT = "night", gettext_lazy("Night")
    ANY = "any", gettext_lazy("Day or night")


class OpenRequestStatus(models.TextChoices):
    OPEN = "open", gettext_lazy("Being placed")
    PLACED = "placed", gettext_lazy("Placed on a shift")
    CLOSED = "closed", gettext_lazy("Closed")
    WITHDRAWN = "withdrawn", gettext_lazy("Withdrawn")
    LAPSED = "lapsed", gettext_lazy("Lapsed")


class OpenRequest(models.Model):
    """Observers asking for a date at a station, to be placed by it on a shift (SPEC §17)."""

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="open_requests")
    station = models.ForeignKey(Station, on_delete=models.PROTECT, related_name="open_requests")
    from_date = models.DateField()
    to_date = models.DateField()
    time_of_day = models.CharField(max_length=8, choices=TimeOfDay.choices, default=TimeOfDay.ANY)
    resource_kind = models.CharField(max_length=32, choices=ResourceKind.choices, null=True, blank=True)
    observers = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="asked_dates")
    purpose = models.TextField(max_length=2000)
    status = models.CharField(max_length=12, choices=OpenRequestStatus.choices, default=OpenRequestStatus.OPEN)
    booking = models.ForeignKey("Booking", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    close_reason = models.TextField(blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["station", "status"])]
        constraints = [
            models.CheckConstraint(condition=models.Q(to_date__gte=models.F("from_date")), name="open_request_dates")
        ]

    def __str__(self) -> str:
        return f"Open request {self.pk} at {self.station_id}, {self.from_date} to {self.to_date}"


class Programme(models.Model):
    """A development scheme whose members should see frontline work by a date (SPEC §18)."""

    name = models.CharField(max_length=200, validators=[validate_single_line])
    starts_on = models.DateField()
    ends_on = models.DateField()
    coordinators = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="coordinated_programmes")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="programmes")
    target_ride_alongs = models.PositiveIntegerField(null=True, blank=True)
    target_nights = models.PositiveIntegerField(null=True, blank=True)
    target_hours = models.DecimalField(max_digits=7, decimal_places=1, null=True, blank=True)
    target_stations = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["starts_on", "name", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(ends_on__gte=models.F("starts_on")), name="programme_dates")
        ]

    def __str__(self) -> str:
        return self.name


class Invitation(models.Model):
    """A link inviting a visitor to set a password (SPEC §19): signed, single use, 14 days; a new one voids it."""

    person = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invitations")
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    email = models.EmailField()
    nonce = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Invitation {self.pk} for {self.person_id}"


class AuditQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError(gettext("Audit events are never changed."))

    def forget_notes(self) -> int:
        """The one change allowed: blanking free text past its retention (SPEC §13); the trigger agrees."""
        return super().update(note="")

    def delete(self):
        raise PermissionError(gettext("Audit events are never deleted."))


class AuditEvent(models.Model):
    """Append-only. A PostgreSQL trigger refuses UPDATE and DELETE as well (migration 0002)."""

    booking = models.ForeignKey(Booking, on_delete=models.PROTECT, null=True, blank=True, related_name="events")
    open_request = models.ForeignKey(
        OpenRequest, on_delete=models.PROTECT, null=True, blank=True, related_name="events"
    )
    station = models.ForeignKey(Station, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    # The person an event is about when it is not a booking's (a clearance recorded or removed, §13).
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=40)
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16, blank=True)
    code = models.CharField(max_length=40, blank=True)
    note = models.TextField(blank=True)
    # Whether the actor is shown only to leads and admins (crew decisions on consent).
    actor_private = models.BooleanField(default=False)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError(gettext("Audit events are never changed."))
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError(gettext("Audit events are never deleted."))


class Notification(models.Model):
    """Outbox row, written in the transaction of the change it reports."""

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    kind = models.CharField(max_length=40)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    html = models.TextField(blank=True)
    attach_ics = models.BooleanField(default=False)
    dedupe_key = models.CharField(max_length=200, unique=True, null=True, blank=True)
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Given up after too many failures (SPEC §16); the admin can send it again.
    dead_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["sent_at", "next_attempt_at"])]

    def __str__(self) -> str:
        return self.subject


class CalendarToken(models.Model):
    person = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_token")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Calendar link of {self.person}"


class IdempotencyRecord(models.Model):
    """The first answer to a request sent with an Idempotency-Key, replayed to repeats for a day (SPEC §6)."""

    TTL = timedelta(hours=24)

    person = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["person", "key"], name="idempotency_key_per_person")]

    def __str__(self) -> str:
        return self.key


class FeedState(models.Model):
    """The last ETag worked out for a person's calendar feed, and when it stops holding (PostgreSQL).

    `snapshot` is the database snapshot the ETag was computed in: any `FeedChange` row for the person
    written by a transaction that snapshot could not see means the feed may have changed since.
    """

    person_id = models.BigIntegerField(primary_key=True)
    etag = models.CharField(max_length=100)
    last_modified = models.DateTimeField(null=True)
    valid_until = models.DateTimeField()
    snapshot = models.TextField()
    # The feed's bytes for that ETag, gzip-compressed, so that an unconditional poll costs no more
    # than a conditional one.
    body = models.BinaryField(default=b"")

    def __str__(self) -> str:
        return f"Feed answer for person {self.person_id}"


class FeedChange(models.Model):
    """Something in a person's calendar feed changed; written by database triggers (PostgreSQL).

    No foreign key on purpose: a key check would lock the person's row at the end of every write,
    outside the documented lock order.
    """

    person_id = models.BigIntegerField(db_index=True)
    xid = models.TextField()
    at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Feed change for person {self.person_id}"


class FeedEvent(models.Model):
    """One event's serialised VEVENT, keyed by a digest of everything its bytes are made from.

    Remembered so that a restart or a deploy does not serialise every event anew; `process_due` drops
    rows of bookings that have left every feed and rows old enough to have been replaced.
    """

    key = models.CharField(max_length=64, primary_key=True)
    booking_id = models.BigIntegerField(db_index=True)
    body = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"Serialised event of booking {self.booking_id}"


class ApiToken(models.Model):
    """An API token (SPEC §12): only its SHA-256 digest is kept; the secret is shown once.

    `password_stamp` ties the token to the password it was made under, so any password change, by
    whatever path (page, admin, `changepassword`), ends it.
    """

    person = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    digest = models.CharField(max_length=64, unique=True)
    password_stamp = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"API token {self.name!r} of {self.person}"


class SignInFailure(models.Model):
    """A failed password sign-in, counted for lockouts across every process (SPEC §12)."""

    username = models.CharField(max_length=150, db_index=True)
    address = models.CharField(max_length=64, db_index=True)
    at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"Failed sign-in for {self.username!r} from {self.address}"


class Reflection(models.Model):
    """What an observer saw and learned (SPEC §14): theirs alone unless shared with the other observers."""

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="reflections")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    text = models.TextField(max_length=10000)
    shared = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["booking", "author"], name="one_reflection_per_observer")]

    def __str__(self) -> str:
        return f"Reflection on booking {self.booking_id}"


class FollowUp(models.Model):
    """An action the observers agreed after a ride-along (SPEC §14), owned by one of them."""

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="actions")
    text = models.TextField(max_length=2000)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    due_on = models.DateField(null=True, blank=True)
    done = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    # The due date each reminder was queued for: a new due date earns new reminders.
    due_reminder_for = models.DateField(null=True, blank=True)
    overdue_reminder_for = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["due_on", "id"]
        indexes = [models.Index(fields=["done", "due_on"])]

    def __str__(self) -> str:
        return self.text[:60]


class Feedback(models.Model):
    """A crew member's word to the observers (SPEC §14): shown to them as from "a crew member"."""

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="feedback")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    text = models.TextField(max_length=2000)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Feedback on booking {self.booking_id}"


class Heartbeat(models.Model):
    """When a background job last ran (the delivery worker, process_due), for /readyz (SPEC §16)."""

    name = models.CharField(max_length=40, primary_key=True)
    at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def beat(cls, name: str, at) -> None:
        cls.objects.update_or_create(name=name, defaults={"at": at})


class ApiRateWindow(models.Model):
    """API requests one person made in one minute (SPEC §12), counted in the database so every worker
    process shares the count. No foreign key: counting must not lock the person's row."""

    person_id = models.BigIntegerField()
    started_at = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["person_id", "started_at"], name="one_rate_window_per_minute")]

    def __str__(self) -> str:
        return f"{self.count} request(s) by {self.person_id} from {self.started_at:%H:%M}"


class AnswerLinkUse(models.Model):
    """A one-tap answer link that has been used (SPEC §8): its nonce, so it works once only."""

    nonce = models.CharField(max_length=32, unique=True)
    person = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="+")
    answer = models.CharField(max_length=10)
    used_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.answer} on booking {self.booking_id}"
