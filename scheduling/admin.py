"""The Django admin: reads freely; booking decisions go through the same services as the API."""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.utils import timezone

from . import services
from .errors import BookingError
from .models import (
    AnswerLinkUse,
    ApiRateWindow,
    ApiToken,
    AuditEvent,
    Booking,
    CalendarToken,
    Clearance,
    Consent,
    CrewMember,
    Feedback,
    FeedChange,
    FeedEvent,
    FeedState,
    FollowUp,
    Heartbeat,
    IdempotencyRecord,
    Invitation,
    Notification,
    OpenRequest,
    PaperworkDocument,
    Place,
    Profile,
    Programme,
    Reflection,
    Resource,
    Shift,
    SignInFailure,
    Station,
)
from .services.stations import STATION_SETTINGS
from .web.forms import AdminSignInForm

User = get_user_model()

# The admin's sign-in shares the pages' and the API's lockout (SPEC §12).
admin.site.login_form = AdminSignInForm


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by the services: visible here, changed only through them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ProfileInline(admin.StackedInline):
    """A person's preference and date of birth change through the API or the pages, whose services
    follow them through (consents given, bookings re-checked); here they are shown only."""

    model = Profile
    can_delete = False
    readonly_fields = ["consent_preference", "date_of_birth"]


admin.site.unregister(User)


@admin.action(description="Erase (anonymise) the selected people (SPEC §13)")
def erase_people(modeladmin, request, queryset):
    from .services.privacy import erase_person

    for person in queryset:
        try:
            erase_person(person_id=person.pk, actor=request.user, now=timezone.now())
        except BookingError as error:
            messages.error(request, f"{person.username}: {error.detail}")
        else:
            messages.success(request, f"Person {person.pk} is erased.")


@admin.register(User)
class PersonAdmin(UserAdmin):
    inlines = [ProfileInline]
    list_display = ["username", "email", "is_active", "is_staff"]
    actions = [erase_people]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            # Deactivation ends the person's calendar link and API tokens, as the service does.
            services.update_person(person=obj, actor=request.user, now=timezone.now(), is_active=False)


class ResourceInline(admin.TabularInline):
    model = Resource
    extra = 0
    fields = ["call_sign", "kind", "observer_seats"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


STATION_FIELDS = ["code", *STATION_SETTINGS]


@admin.register(Station)
class StationAdmin(admin.ModelAdmin):
    """Saved through the station services, so a raised cap moves the waiting lists and a new zone re-dates
    shifts; suspensions are set and lifted in the API (with their audit event), so shown only here."""

    list_display = ["code", "name", "timezone", "min_notice_hours", "suspended_until"]
    filter_horizontal = ["leads"]
    inlines = [ResourceInline]
    readonly_fields = ["suspended_until", "suspension_reason"]

    def save_model(self, request, obj, form, change):
        values = {key: form.cleaned_data[key] for key in STATION_FIELDS if key in form.cleaned_data}
        try:
            if change:
                changed = {k: v for k, v in values.items() if k in form.changed_data}
                station = services.update_station(actor=request.user, station_id=obj.pk, now=timezone.now(), **changed)
            else:
                station = services.create_station(actor=request.user, now=timezone.now(), **values)
        except BookingError as error:
            messages.error(request, error.detail)
            return
        obj.pk = station.pk
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        # Leads go through the service too (it locks and audits); resources are edited on their own page.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)
        if "leads" in form.changed_data or not change:
            services.update_station(
                actor=request.user,
                station_id=form.instance.pk,
                now=timezone.now(),
                leads=[person.pk for person in form.cleaned_data["leads"]],
            )


@admin.register(Resource)
class ResourceAdmin(admin.ModelAdmin):
    """Saved through the resource services, so the same checks apply as in the API."""

    list_display = ["call_sign", "station", "kind", "observer_seats"]
    list_filter = ["station", "kind"]

    def save_model(self, request, obj, form, change):
        data = {k: form.cleaned_data[k] for k in ("call_sign", "kind", "observer_seats") if k in form.cleaned_data}
        try:
            if change:
                changed = {k: v for k, v in data.items() if k in form.changed_data}
                services.update_resource(actor=request.user, resource=obj, now=timezone.now(), **changed)
            else:
                made = services.create_resource(
                    actor=request.user, station_id=form.cleaned_data["station"].pk, now=timezone.now(), **data
                )
                obj.pk = made.pk
        except BookingError as error:
            messages.error(request, error.detail)
            return


class CrewInline(admin.TabularInline):
    model = CrewMember
    extra = 0
    fields = ["person", "role"]
    readonly_fields = ["person", "role"]
    can_delete = False


@admin.register(Shift)
class ShiftAdmin(admin.ModelAdmin):
    """Shifts are edited through the API or the rota import, so that §7 follows every change."""

    list_display = ["id", "external_ref", "resource", "starts_at", "ends_at", "observer_seats", "status"]
    list_filter = ["station", "status"]
    search_fields = ["external_ref"]
    date_hierarchy = "starts_at"
    inlines = [CrewInline]

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Clearance)
class ClearanceAdmin(admin.ModelAdmin):
    list_display = ["person", "kind", "valid_from", "valid_until", "reference"]
    list_filter = ["kind"]
    search_fields = ["person__username", "reference"]

    def save_model(self, request, obj, form, change):
        now = timezone.now()
        if change:
            services.update_clearance(actor=request.user, clearance=obj, now=now, **form.cleaned_data)
        else:
            created = services.add_clearance(
                actor=request.user,
                person=obj.person,
                kind=obj.kind,
                valid_from=obj.valid_from,
                valid_until=obj.valid_until,
                reference=obj.reference,
                now=now,
            )
            obj.pk = created.pk

    def delete_model(self, request, obj):
        services.remove_clearance(actor=request.user, clearance=obj, now=timezone.now())

    def has_delete_permission(self, request, obj=None):
        return obj is not None and super().has_delete_permission(request, obj)


class PlaceInline(admin.TabularInline):
    model = Place
    extra = 0
    fields = ["person", "state"]
    readonly_fields = fields
    can_delete = False


class ConsentInline(admin.TabularInline):
    model = Consent
    extra = 0
    fields = ["person", "state", "source", "at", "note"]
    readonly_fields = fields
    can_delete = False


class EventInline(admin.TabularInline):
    model = AuditEvent
    extra = 0
    fields = ["at", "actor", "action", "from_status", "to_status", "code", "note"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


def _run(modeladmin, request, queryset, action):
    for booking in queryset:
        try:
            action(booking)
        except BookingError as error:
            modeladmin.message_user(request, f"Booking {booking.pk}: {error.detail}", messages.ERROR)
        else:
            modeladmin.message_user(request, f"Booking {booking.pk}: done.", messages.SUCCESS)


@admin.action(description="Approve as lead (re-checks every rule)")
def approve(modeladmin, request, queryset):
    _run(
        modeladmin,
        request,
        queryset,
        lambda b: services.approve_booking(booking_id=b.pk, actor=request.user, now=timezone.now()),
    )


@admin.action(description="Cancel (as admin)")
def cancel(modeladmin, request, queryset):
    _run(
        modeladmin,
        request,
        queryset,
        lambda b: services.cancel_booking(
            booking_id=b.pk, actor=request.user, reason="Cancelled by an admin", now=timezone.now()
        ),
    )


@admin.register(Booking)
class BookingAdmin(admin.ModelAdmin):
    list_display = ["id", "shift", "requested_by", "status", "lead_approved", "revision", "created_at"]
    list_filter = ["status", "shift__station"]
    readonly_fields = [f.name for f in Booking._meta.fields]
    inlines = [PlaceInline, ConsentInline, EventInline]
    actions = [approve, cancel]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "booking", "actor", "action", "from_status", "to_status", "code"]
    list_filter = ["action"]
    readonly_fields = [f.name for f in AuditEvent._meta.fields]


@admin.action(description="Send again (a fresh set of attempts from now)")
def send_again(modeladmin, request, queryset):
    from .delivery import send_again as resend

    count = resend(queryset.values_list("pk", flat=True), now=timezone.now())
    messages.success(request, f"{count} notification(s) will be sent again.")


class DeadFilter(admin.SimpleListFilter):
    title = "delivery"
    parameter_name = "delivery"

    def lookups(self, request, model_admin):
        return [("dead", "Dead (given up)"), ("waiting", "Waiting to send"), ("sent", "Sent")]

    def queryset(self, request, queryset):
        if self.value() == "dead":
            return queryset.exclude(dead_at=None)
        if self.value() == "waiting":
            return queryset.filter(sent_at=None, dead_at=None)
        if self.value() == "sent":
            return queryset.exclude(sent_at=None)
        return queryset


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["id", "recipient", "kind", "subject", "created_at", "sent_at", "dead_at", "attempts"]
    list_filter = [DeadFilter, "kind"]
    readonly_fields = [f.name for f in Notification._meta.fields]
    actions = [send_again]


@admin.register(CalendarToken)
class CalendarTokenAdmin(admin.ModelAdmin):
    list_display = ["person", "created_at"]
    readonly_fields = ["person", "created_at"]
    exclude = ["digest"]

    def has_add_permission(self, request):
        return False

    def delete_model(self, request, obj):
        services.revoke_calendar_token(person=obj.person)

    def delete_queryset(self, request, queryset):
        for token in queryset.select_related("person"):
            self.delete_model(request, token)


@admin.register(PaperworkDocument)
class PaperworkDocumentAdmin(admin.ModelAdmin):
    """Published, never edited (SPEC §19): a change is a new version, and what was signed stays as signed."""

    list_display = ["title", "kind", "version", "valid_days", "published_at"]
    list_filter = ["kind"]
    readonly_fields = ["version", "published_at"]

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            return
        services.paperwork.publish(
            actor=request.user,
            kind=obj.kind,
            title=obj.title,
            body=obj.body,
            valid_days=obj.valid_days,
            now=timezone.now(),
            into=obj,
        )


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    """Sent, accepted and voided through the visitors service; the link itself is never stored."""

    list_display = ["person", "email", "invited_by", "created_at", "expires_at", "accepted_at", "voided_at"]
    readonly_fields = ["person", "invited_by", "email", "created_at", "expires_at", "accepted_at", "voided_at"]
    exclude = ["nonce"]


@admin.register(OpenRequest)
class OpenRequestAdmin(ReadOnlyAdmin):
    """Placed, closed and withdrawn through their services (the lead's Open requests page and the API)."""

    list_display = ["pk", "station", "from_date", "to_date", "time_of_day", "status", "created_at"]
    list_filter = ["status", "time_of_day"]
    raw_id_fields = ["requested_by", "booking"]


@admin.register(Programme)
class ProgrammeAdmin(admin.ModelAdmin):
    """Saved through the programme services, so members joining and leaving are in their history."""

    list_display = ["name", "starts_on", "ends_on"]
    autocomplete_fields = ["coordinators", "members"]

    def save_model(self, request, obj, form, change):
        fields = {k: form.cleaned_data[k] for k in ("name", "starts_on", "ends_on", *services.programmes.TARGETS)}
        try:
            if change:
                services.programmes.update_programme(
                    actor=request.user, programme_id=obj.pk, now=timezone.now(), **fields
                )
            else:
                made = services.programmes.create_programme(actor=request.user, now=timezone.now(), **fields)
                obj.pk = made.pk
        except BookingError as error:
            messages.error(request, error.detail)

    def save_related(self, request, form, formsets, change):
        programme = form.instance
        now = timezone.now()
        services.programmes.update_programme(
            actor=request.user,
            programme_id=programme.pk,
            now=now,
            coordinators=[p.pk for p in form.cleaned_data["coordinators"]],
        )
        services.programmes.set_members(
            actor=request.user,
            programme_id=programme.pk,
            person_ids=[p.pk for p in form.cleaned_data["members"]],
            now=now,
        )


@admin.register(Place)
class PlaceAdmin(ReadOnlyAdmin):
    list_display = ["booking", "person", "state", "starts_at"]
    list_filter = ["state"]


@admin.register(Consent)
class ConsentAdmin(ReadOnlyAdmin):
    list_display = ["booking", "person", "state", "source", "at"]
    list_filter = ["state", "source"]


@admin.register(CrewMember)
class CrewMemberAdmin(ReadOnlyAdmin):
    list_display = ["shift", "person", "role"]
    list_filter = ["role"]


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ["person", "key", "status_code", "created_at"]


@admin.register(FeedState)
class FeedStateAdmin(ReadOnlyAdmin):
    """The remembered answer to each person's feed requests; the feed view writes it."""

    list_display = ["person_id", "etag", "last_modified", "valid_until"]
    exclude = ["body"]


@admin.register(FeedEvent)
class FeedEventAdmin(ReadOnlyAdmin):
    """Serialised events the feed remembers; `process_due` drops the ones no feed needs."""

    list_display = ["key", "booking_id", "created_at"]
    exclude = ["body"]


@admin.register(FeedChange)
class FeedChangeAdmin(ReadOnlyAdmin):
    """Notes written by the database's triggers; `process_due` drops the ones no answer needs."""

    list_display = ["person_id", "xid", "at"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens can be seen and revoked here; only their owner makes them, and the secret is never kept."""

    list_display = ["person", "name", "created_at", "last_used_at", "expires_at"]
    readonly_fields = ["person", "name", "created_at", "last_used_at", "expires_at"]
    exclude = ["digest", "password_stamp"]

    def has_add_permission(self, request):
        return False

    def delete_model(self, request, obj):
        services.accounts.revoke_api_token(person=obj.person, token_id=obj.pk)

    def delete_queryset(self, request, queryset):
        for token in queryset.select_related("person"):
            self.delete_model(request, token)


@admin.register(SignInFailure)
class SignInFailureAdmin(ReadOnlyAdmin):
    """Failed password sign-ins behind the lockouts; a successful sign-in clears its username's."""

    list_display = ["username", "address", "at"]
    search_fields = ["username", "address"]


@admin.register(Reflection)
class ReflectionAdmin(ReadOnlyAdmin):
    """Who reflected on what; the text is the observer's own and is not shown here (SPEC §14)."""

    list_display = ["booking", "author", "shared", "updated_at"]
    exclude = ["text"]


@admin.register(FollowUp)
class FollowUpAdmin(ReadOnlyAdmin):
    list_display = ["booking", "owner", "due_on", "done"]
    list_filter = ["done"]


@admin.register(Feedback)
class FeedbackAdmin(ReadOnlyAdmin):
    list_display = ["booking", "author", "created_at"]


@admin.register(Heartbeat)
class HeartbeatAdmin(ReadOnlyAdmin):
    """When the delivery worker and process_due last ran (/readyz reads the same rows)."""

    list_display = ["name", "at"]


@admin.register(ApiRateWindow)
class ApiRateWindowAdmin(ReadOnlyAdmin):
    """Each person's API requests per minute; process_due drops windows older than an hour."""

    list_display = ["person_id", "started_at", "count"]


@admin.register(AnswerLinkUse)
class AnswerLinkUseAdmin(ReadOnlyAdmin):
    """One-tap answer links already used (each works once); the links themselves are never stored."""

    list_display = ["booking", "person", "answer", "used_at"]
