"""Shapes of SPEC §6. Serializers parse and present; they decide nothing about bookings."""

import zoneinfo
from datetime import datetime

from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext, gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .. import access, rules
from ..access import lead_station_ids
from ..models import (
    AuditEvent,
    Booking,
    BookingStatus,
    Clearance,
    ConsentPreference,
    ConsentSource,
    ConsentState,
    CrewRole,
    Language,
    Outcome,
    PlaceState,
    Resource,
    ResourceKind,
    Shift,
    ShiftStatus,
    Station,
    display_name,
    validate_timezone,
)
from ..services import consent_summary
from ..services.bookings import paperwork_outstanding

User = get_user_model()


# Ids beyond this cannot exist; refusing them early keeps them away from 64-bit database columns.
MAX_ID = access.MAX_ID
# Datetimes outside these years are typos, and near the ends of Python's range arithmetic overflows.
EARLIEST_YEAR, LATEST_YEAR = 1900, 2200


def local_iso(value: datetime | None, tz) -> str | None:
    # Every datetime leaves in the station's local offset (SPEC §2).
    if value is None:
        return None
    return value.astimezone(tz).isoformat()


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so a typo is a 400 rather than silently ignored."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": [gettext("Send a JSON object.")]})
        writable = {name for name, f in self.fields.items() if not f.read_only}
        unknown = sorted(set(data) - writable)
        if unknown:
            raise serializers.ValidationError({name: [gettext("Unknown or read-only field.")] for name in unknown})
        # DRF would turn 42 into "42"; text fields take JSON strings only.
        not_text = {
            name: [gettext("Send text (a JSON string).")]
            for name, field in self.fields.items()
            if isinstance(field, serializers.CharField)
            and name in data
            and data[name] is not None
            and not isinstance(data[name], str)
        }
        if not_text:
            raise serializers.ValidationError(not_text)
        return super().to_internal_value(data)


@extend_schema_field(OpenApiTypes.DATETIME)
class AwareDateTimeField(serializers.Field):
    default_error_messages = {
        "invalid": gettext_lazy("Give a date and time in ISO 8601 with an offset, e.g. 2026-10-24T19:00:00+01:00."),
        "naive": gettext_lazy("The time has no offset; add one (e.g. +01:00) or Z."),
    }

    def to_internal_value(self, data):
        if not isinstance(data, str) or len(data) > 64:
            self.fail("invalid")
        try:
            value = parse_datetime(data.strip())
        except ValueError:
            value = None
        if value is None:
            self.fail("invalid")
        if value.tzinfo is None:
            self.fail("naive")
        if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
            self.fail("invalid")
        return value

    def to_representation(self, value):
        return value.isoformat() if value else None


@extend_schema_field(OpenApiTypes.DATE)
class StrictDateField(serializers.Field):
    default_error_messages = {"invalid": gettext_lazy("Give a date as YYYY-MM-DD.")}

    def to_internal_value(self, data):
        if not isinstance(data, str) or len(data) != 10:
            self.fail("invalid")
        try:
            value = parse_date(data)
        except ValueError:
            value = None
        if value is None or not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
            self.fail("invalid")
        return value

    def to_representation(self, value):
        return value.isoformat() if value else None


class TokenRequestSerializer(StrictSerializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, trim_whitespace=False, write_only=True)
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)


class ApiTokenSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    created_at = AwareDateTimeField(read_only=True)
    last_used_at = AwareDateTimeField(read_only=True, allow_null=True)
    expires_at = AwareDateTimeField(read_only=True)


class NewApiTokenSerializer(ApiTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The secret, shown this once: `rlt_…`.")


class ClearanceSerializer(StrictSerializer):
    id = serializers.IntegerField(read_only=True)
    person = serializers.IntegerField(source="person_id", read_only=True)
    kind = serializers.CharField(max_length=40)
    valid_from = StrictDateField()
    valid_until = StrictDateField(required=False, allow_null=True)
    reference = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class MeSerializer(StrictSerializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)
    is_requester = serializers.BooleanField(read_only=True)
    lead_of = serializers.ListField(child=serializers.IntegerField(), read_only=True)
    consent_preference = serializers.ChoiceField(choices=ConsentPreference.choices)
    reminders = serializers.BooleanField(read_only=True)
    language = serializers.ChoiceField(
        choices=Language.choices, allow_null=True, help_text="null: the site's default, until they choose."
    )
    clearances = ClearanceSerializer(many=True, read_only=True)

    def to_representation(self, user):
        profile = user.profile
        return {
            "id": user.pk,
            "username": user.username,
            "name": profile.name,
            "is_requester": profile.is_requester,
            "lead_of": sorted(lead_station_ids(user)),
            "consent_preference": profile.consent_preference,
            "reminders": profile.reminders,
            "language": profile.language,
            "clearances": ClearanceSerializer(user.clearances.order_by("kind", "valid_from", "id"), many=True).data,
        }


class PersonSerializer(StrictSerializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.RegexField(r"^[\w.@+-]+\Z", max_length=150)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True, max_length=254)
    staff_number = serializers.CharField(max_length=40, required=False, allow_blank=True, allow_null=True)
    date_of_birth = StrictDateField(required=False, allow_null=True)
    is_requester = serializers.BooleanField(required=False)
    consent_preference = serializers.ChoiceField(choices=ConsentPreference.choices, required=False)
    is_active = serializers.BooleanField(required=False)
    password = serializers.CharField(write_only=True, required=False, max_length=256, trim_whitespace=False)

    def to_representation(self, user):
        profile = user.profile
        # Leads read every profile but a date of birth only its person and admins (SPEC §13).
        viewer = self.context.get("viewer")
        born = profile.date_of_birth if viewer is not None and access.sees_date_of_birth(viewer, user.pk) else None
        return {
            "id": user.pk,
            "username": user.username,
            "name": profile.name,
            "email": user.email,
            "staff_number": profile.staff_number,
            "date_of_birth": born.isoformat() if born else None,
            "is_requester": profile.is_requester,
            "consent_preference": profile.consent_preference,
            "is_active": user.is_active,
        }


class StationSerializer(StrictSerializer):
    id = serializers.IntegerField(read_only=True)
    code = serializers.RegexField(r"^[A-Za-z0-9_-]+\Z", max_length=16)
    name = serializers.CharField(max_length=200)
    address = serializers.CharField(max_length=500, required=False, allow_blank=True)
    timezone = serializers.CharField(max_length=64, required=False, validators=[validate_timezone])
    min_notice_hours = serializers.IntegerField(min_value=0, max_value=24 * 365, required=False)
    max_observers_per_day = serializers.IntegerField(min_value=0, max_value=10_000, required=False, allow_null=True)
    crew_hosting_limit = serializers.IntegerField(min_value=0, max_value=10_000, required=False, allow_null=True)
    observer_limit_365d = serializers.IntegerField(min_value=0, max_value=10_000, required=False, allow_null=True)
    min_observer_age = serializers.IntegerField(min_value=0, max_value=120, required=False)
    allow_shift_choice = serializers.BooleanField(required=False)
    auto_place_requests = serializers.BooleanField(required=False)
    suspended_until = serializers.DateTimeField(read_only=True, allow_null=True)
    suspension_reason = serializers.CharField(read_only=True, allow_null=True)
    leads = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False, max_length=100
    )

    def to_representation(self, station):
        return {
            "id": station.pk,
            "code": station.code,
            "name": station.name,
            "address": station.address,
            "timezone": station.timezone,
            "min_notice_hours": station.min_notice_hours,
            "max_observers_per_day": station.max_observers_per_day,
            "crew_hosting_limit": station.crew_hosting_limit,
            "observer_limit_365d": station.observer_limit_365d,
            "min_observer_age": station.min_observer_age,
            "allow_shift_choice": station.allow_shift_choice,
            "auto_place_requests": station.auto_place_requests,
            "suspended_until": local_iso(station.suspended_until, station.tz),
            "suspension_reason": station.suspension_reason or None,
            "leads": sorted(u.pk for u in station.leads.all()),
        }

    def validate_timezone(self, value):
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise serializers.ValidationError(gettext("Not an IANA time zone name.")) from None
        return value


class SuspendSerializer(StrictSerializer):
    until = AwareDateTimeField()
    reason = serializers.CharField(max_length=2000)
    cancel_bookings = serializers.BooleanField(required=False, default=False)


class ResourceSerializer(StrictSerializer):
    id = serializers.IntegerField(read_only=True)
    station = serializers.IntegerField(source="station_id", min_value=1, max_value=MAX_ID)
    call_sign = serializers.CharField(max_length=32)
    kind = serializers.ChoiceField(choices=ResourceKind.choices, required=False)
    observer_seats = serializers.IntegerField(min_value=0, max_value=100, required=False)


class CrewEntrySerializer(StrictSerializer):
    person = serializers.IntegerField(min_value=1, max_value=MAX_ID, allow_null=True)
    role = serializers.ChoiceField(choices=CrewRole.choices)


class ShiftSerializer(StrictSerializer):
    id = serializers.IntegerField(read_only=True)
    external_ref = serializers.CharField(max_length=100, required=False, allow_null=True, allow_blank=True)
    station = serializers.IntegerField(source="station_id", read_only=True)
    resource = serializers.IntegerField(source="resource_id", min_value=1, max_value=MAX_ID)
    starts_at = AwareDateTimeField()
    ends_at = AwareDateTimeField()
    observer_seats = serializers.IntegerField(min_value=0, max_value=100, required=False, allow_null=True)
    seats_free = serializers.IntegerField(read_only=True)
    status = serializers.ChoiceField(choices=ShiftStatus.choices, required=False)
    crew = CrewEntrySerializer(many=True, required=False)

    def to_representation(self, shift):
        viewer = self.context["request"].user
        tz = shift.station.tz
        crew = list(shift.crew_members.all())
        show_names = access.sees_crew_names(viewer, shift, {c.person_id for c in crew})
        return {
            "id": shift.pk,
            "external_ref": shift.external_ref,
            "station": shift.station_id,
            "resource": shift.resource_id,
            "starts_at": local_iso(shift.starts_at, tz),
            "ends_at": local_iso(shift.ends_at, tz),
            "observer_seats": shift.observer_seats,
            "seats_free": rules.seats_free(shift),
            "status": shift.status,
            "crew": [{"person": c.person_id if show_names else None, "role": c.role} for c in crew],
        }


class BookingRequestSerializer(StrictSerializer):
    shift = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    observers = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False, allow_empty=False, max_length=100
    )
    purpose = serializers.CharField(max_length=2000, trim_whitespace=True)
    allow_waitlist = serializers.BooleanField(required=False, default=True)


class ConsentEntrySerializer(serializers.Serializer):
    person = serializers.IntegerField()
    state = serializers.ChoiceField(choices=ConsentState.choices)
    source = serializers.ChoiceField(choices=ConsentSource.choices, allow_null=True)
    at = serializers.DateTimeField(allow_null=True)


# Why a booking ended: SPEC §5.1's system reasons and who ended it otherwise.
CANCEL_REASONS = [
    "shift_cancelled",
    "consent_withdrawn",
    "shift_changed",
    "station_suspended",
    "clearance_lapsed",
    "seats_reduced",
    "crew_declined",
    "lead_declined",
    "lead_cancelled",
    "requester_cancelled",
    "observer_cancelled",
]


class PaperworkGapSerializer(serializers.Serializer):
    observer = serializers.IntegerField()
    kind = serializers.CharField()


def paperwork_state(booking: Booking) -> dict:
    """The third gate (SPEC §19), as the booking's JSON says it."""
    missing = paperwork_outstanding(booking)
    return {
        "paperwork": "outstanding" if missing else "complete",
        "paperwork_missing": [{"observer": person_id, "kind": kind} for person_id, kind in missing],
    }


class BookingSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    uid = serializers.UUIDField()
    shift = serializers.IntegerField()
    requested_by = serializers.IntegerField()
    observers = serializers.ListField(child=serializers.IntegerField())
    purpose = serializers.CharField()
    allow_waitlist = serializers.BooleanField()
    status = serializers.ChoiceField(choices=BookingStatus.choices)
    cancel_reason = serializers.ChoiceField(choices=CANCEL_REASONS, allow_null=True)
    revision = serializers.IntegerField()
    lead_approved = serializers.BooleanField()
    consent = serializers.ChoiceField(choices=[ConsentState.PENDING, ConsentState.GIVEN, ConsentState.DECLINED])
    consents = ConsentEntrySerializer(many=True, required=False, help_text="Leads and admins only.")
    outcome = serializers.ChoiceField(choices=Outcome.choices, allow_null=True)
    left_at = serializers.DateTimeField(allow_null=True)
    paperwork = serializers.ChoiceField(choices=["complete", "outstanding"])
    paperwork_missing = PaperworkGapSerializer(many=True)
    actions = serializers.ListField(
        child=serializers.ChoiceField(choices=access.BookingAction.ALL),
        help_text="What the reader may do to this booking now; each is a POST to /bookings/{id}/<action>.",
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def to_representation(self, booking: Booking):
        viewer = self.context["request"].user
        tz = booking.shift.station.tz
        consents = list(booking.consents.all())
        data = {
            "id": booking.pk,
            "uid": str(booking.uid),
            "shift": booking.shift_id,
            "requested_by": booking.requested_by_id,
            "observers": [p.person_id for p in booking.places.all() if p.state != PlaceState.RELEASED],
            "purpose": booking.purpose,
            "allow_waitlist": booking.allow_waitlist,
            "status": booking.status,
            "cancel_reason": booking.cancel_reason or None,
            "revision": booking.revision,
            "lead_approved": booking.lead_approved,
            "consent": consent_summary(consents),
            "outcome": booking.outcome or None,
            "left_at": local_iso(booking.left_at, tz),
            **paperwork_state(booking),
            "actions": access.booking_actions(viewer, booking, timezone.now()),
            "created_at": local_iso(booking.created_at, tz),
            "updated_at": local_iso(booking.updated_at, tz),
        }
        if access.sees_private(viewer, booking.shift.station_id):
            data["consents"] = [
                {"person": c.person_id, "state": c.state, "source": c.source or None, "at": local_iso(c.at, tz)}
                for c in consents
            ]
        return data


class DeclineSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=2000)


class CancelSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class ConsentDecisionSerializer(StrictSerializer):
    decision = serializers.ChoiceField(choices=["give", "decline", "withdraw"])
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class OutcomeSerializer(StrictSerializer):
    outcome = serializers.ChoiceField(choices=Outcome.choices)
    left_at = AwareDateTimeField(required=False, allow_null=True, help_text="Required for ended_early.")


class AuditEventSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    actor = serializers.IntegerField(allow_null=True)
    action = serializers.CharField()
    from_status = serializers.ChoiceField(choices=BookingStatus.choices, allow_null=True)
    to_status = serializers.ChoiceField(choices=BookingStatus.choices, allow_null=True)
    code = serializers.CharField(allow_null=True)
    note = serializers.CharField(allow_null=True)

    def to_representation(self, event: AuditEvent):
        show_private = self.context["show_private"]
        hidden = access.hides_actor(event, private=show_private)
        return {
            "at": local_iso(event.at, self.context["tz"]),
            "actor": None if hidden else event.actor_id,
            "action": event.action,
            "from_status": event.from_status or None,
            "to_status": event.to_status or None,
            "code": event.code or None,
            "note": None if hidden else (event.note or None),
        }


class CalendarLinkSerializer(serializers.Serializer):
    url = serializers.CharField(help_text="https:// address, for Google's “From URL”.")
    webcal_url = serializers.CharField(help_text="webcal:// address, for Apple Calendar and Outlook.")
    google_url = serializers.CharField(help_text="Google Calendar's one-click subscribe link.")


class MePatchSerializer(StrictSerializer):
    consent_preference = serializers.ChoiceField(choices=ConsentPreference.choices, required=False)
    reminders = serializers.BooleanField(
        required=False, help_text="Reminder e-mails; decisions and changes always come."
    )
    language = serializers.ChoiceField(
        choices=Language.choices,
        required=False,
        help_text="Pages, e-mails and the calendar feed in English (en) or Welsh (cy).",
    )


__all__ = ["Clearance", "Resource", "Shift", "Station", "User"]


class LookupQuerySerializer(StrictSerializer):
    q = serializers.CharField(min_length=2, max_length=100)


class PersonLookupSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)
    name = serializers.SerializerMethodField()

    def get_name(self, person) -> str:
        return display_name(person)


class PersonEventSerializer(serializers.Serializer):
    """An audit event about a person: who recorded what (SPEC §13)."""

    at = AwareDateTimeField(read_only=True)
    actor = serializers.IntegerField(source="actor_id", read_only=True, allow_null=True)
    action = serializers.CharField(read_only=True)
    code = serializers.CharField(read_only=True)
    note = serializers.CharField(read_only=True)


class ReflectionSerializer(StrictSerializer):
    text = serializers.CharField(max_length=10000)
    shared = serializers.BooleanField(required=False, default=False, help_text="Show it to the other observers.")
    author = serializers.IntegerField(source="author_id", read_only=True)
    author_name = serializers.SerializerMethodField()
    updated_at = AwareDateTimeField(read_only=True)

    def get_author_name(self, reflection) -> str:
        return display_name(reflection.author)


class ActionSerializer(StrictSerializer):
    id = serializers.IntegerField(read_only=True)
    booking = serializers.IntegerField(source="booking_id", read_only=True)
    text = serializers.CharField(max_length=2000)
    owner = serializers.IntegerField(
        source="owner_id", min_value=1, max_value=MAX_ID, required=False, help_text="One of the observers."
    )
    due_on = StrictDateField(required=False, allow_null=True)
    done = serializers.BooleanField(required=False, default=False)
    created_at = AwareDateTimeField(read_only=True)
    updated_at = AwareDateTimeField(read_only=True)


class ActionPatchSerializer(StrictSerializer):
    text = serializers.CharField(max_length=2000, required=False)
    owner = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    due_on = StrictDateField(required=False, allow_null=True)
    done = serializers.BooleanField(required=False)


class FeedbackSerializer(StrictSerializer):
    id = serializers.IntegerField(read_only=True)
    text = serializers.CharField(max_length=2000)
    author = serializers.IntegerField(read_only=True, allow_null=True, help_text="Leads, admins and the author only.")
    author_name = serializers.CharField(read_only=True, help_text="“A crew member” unless you may see who.")
    created_at = AwareDateTimeField(read_only=True)

    def to_representation(self, feedback):
        viewer = self.context["viewer"]
        named = access.sees_feedback_author(viewer, feedback, self.context["station_id"])
        return {
            "id": feedback.pk,
            "text": feedback.text,
            "author": feedback.author_id if named else None,
            "author_name": display_name(feedback.author) if named else gettext("A crew member"),
            "created_at": feedback.created_at.isoformat(),
        }


class LearningEntrySerializer(serializers.Serializer):
    """One past ride-along in the learning log (SPEC §14)."""

    booking = serializers.IntegerField()
    shift = serializers.IntegerField()
    label = serializers.CharField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    station = serializers.CharField()
    purpose = serializers.CharField()
    outcome = serializers.ChoiceField(choices=Outcome.choices, allow_null=True)
    reflection = ReflectionSerializer(allow_null=True)
    shared_reflections = ReflectionSerializer(many=True)
    actions = ActionSerializer(many=True)
    feedback = FeedbackSerializer(many=True)


class ExportSerializer(serializers.Serializer):
    """The export document: its sections (SPEC §13)."""

    exported_at = serializers.DateTimeField()
    profile = serializers.DictField()
    clearances = ClearanceSerializer(many=True)
    bookings = serializers.ListField(child=serializers.DictField())
    consents = serializers.ListField(child=serializers.DictField())
    reflections = serializers.ListField(child=serializers.DictField())
    actions = ActionSerializer(many=True)
    feedback_received = serializers.ListField(child=serializers.DictField())
    feedback_given = serializers.ListField(child=serializers.DictField())
    events_about_me = serializers.ListField(child=serializers.DictField())
    notifications = serializers.ListField(child=serializers.DictField())


class HostingMonthSerializer(serializers.Serializer):
    month = serializers.CharField(help_text="YYYY-MM")
    count = serializers.IntegerField()


class HostingRowSerializer(serializers.Serializer):
    person = serializers.IntegerField()
    name = serializers.CharField()
    next_28_days = serializers.IntegerField(help_text="Held bookings hosted on shifts starting in the next 28 days.")
    limit = serializers.IntegerField(allow_null=True)
    by_month = HostingMonthSerializer(many=True)


class MonthCountsSerializer(serializers.Serializer):
    month = serializers.CharField(help_text="YYYY-MM, the shifts' local month")
    pending = serializers.IntegerField()
    approved = serializers.IntegerField()
    waitlisted = serializers.IntegerField()
    declined = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    expired = serializers.IntegerField()
    attended = serializers.IntegerField()
    ended_early = serializers.IntegerField()
    no_show = serializers.IntegerField()


class StationReportSerializer(serializers.Serializer):
    station = serializers.IntegerField()
    # "from" is a Python keyword: declared below.
    to = serializers.DateTimeField()
    crew_hosting_limit = serializers.IntegerField(allow_null=True)
    hosting = HostingRowSerializer(many=True)
    ride_alongs_by_month = MonthCountsSerializer(many=True)


StationReportSerializer._declared_fields["from"] = serializers.DateTimeField()
