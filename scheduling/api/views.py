"""API views: parse, fetch what the caller may see, call one service, serialize (STYLE.md)."""

import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers as drf_serializers
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from .. import access, selectors, services
from ..access import lead_station_ids
from ..auth import locked_until, password_sign_in_off
from ..calendar import build_feed, calendar_urls
from ..errors import BookingError, Forbidden, Invalid, NotFound, TooManyAttempts
from ..models import (
    AuditEvent,
    Booking,
    BookingStatus,
    Clearance,
    IdempotencyRecord,
    Resource,
    Shift,
    ShiftStatus,
    Station,
)
from ..services import accounts, after
from . import serializers as s
from .errors import error_response

User = get_user_model()


def parse(serializer_class, request, *, partial=False, **kwargs):
    serializer = serializer_class(data=request.data, partial=partial, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def created(body: dict, url_name: str, pk: int, **headers) -> Response:
    """201 with the new object and its address (SPEC §6)."""
    response = Response(body, status=status.HTTP_201_CREATED)
    response["Location"] = reverse(url_name, kwargs={"pk": pk})
    for key, value in headers.items():
        response[key.replace("_", "-")] = value
    return response


def viewer(request) -> dict:
    return {"viewer": request.user}


def parse_query(serializer_class, request):
    serializer = serializer_class(data=request.query_params.dict())
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def get_int(value, what: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise NotFound(gettext("No %(what)s with that id.") % {"what": what}) from None
    if not 0 < number < s.MAX_ID:
        raise NotFound(gettext("No %(what)s with that id.") % {"what": what})
    return number


def sign_in_refused(request) -> TooManyAttempts | None:
    until = locked_until(request)
    if until is None:
        return None
    wait = int((until - timezone.now()).total_seconds()) + 1
    return TooManyAttempts(gettext("Too many failed sign-ins; try again in a few minutes."), retry_after=wait)


class TokenView(GenericAPIView):
    queryset = User.objects.none()
    authentication_classes: list = []
    permission_classes = [AllowAny]
    serializer_class = s.TokenRequestSerializer

    @extend_schema(operation_id="auth_token_create", responses={201: s.NewApiTokenSerializer})
    def post(self, request):
        data = parse(s.TokenRequestSerializer, request)
        user = authenticate(request, username=data["username"], password=data["password"])
        refused = sign_in_refused(request)
        if refused is not None:
            raise refused
        if password_sign_in_off(request):
            raise Forbidden(
                gettext(
                    "Password sign-in is turned off here: sign in with your organisation account and make a token "
                    "on the API tokens page."
                ),
                code="password_sign_in_off",
            )
        if user is None or not user.is_active:
            raise Invalid(
                gettext("The username or password is wrong."),
                fields={"non_field_errors": [gettext("The username or password is wrong.")]},
            )
        token, secret = accounts.issue_api_token(person=user, name=data.get("name", ""), now=timezone.now())
        body = {**s.ApiTokenSerializer(token).data, "token": secret}
        return created(body, "api-api-token", token.pk, Cache_Control="no-store")


class TokenListView(GenericAPIView):
    queryset = User.objects.none()
    serializer_class = s.ApiTokenSerializer

    @extend_schema(operation_id="auth_tokens_list", responses=s.ApiTokenSerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(accounts.tokens_of(request.user, now=timezone.now()))
        return self.get_paginated_response(s.ApiTokenSerializer(page, many=True).data)


class TokenDetailView(GenericAPIView):
    queryset = User.objects.none()
    serializer_class = s.ApiTokenSerializer

    @extend_schema(operation_id="auth_tokens_destroy", responses={204: None})
    def delete(self, request, pk):
        accounts.revoke_api_token(person=request.user, token_id=get_int(pk, gettext("API token")))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(GenericAPIView):
    queryset = User.objects.none()
    serializer_class = s.MeSerializer

    @extend_schema(operation_id="me_retrieve")
    def get(self, request):
        return Response(s.MeSerializer(request.user).data)

    @extend_schema(operation_id="me_update", request=s.MePatchSerializer)
    def patch(self, request):
        data = parse(s.MePatchSerializer, request)
        if "language" in data:
            services.set_language(person=request.user, language=data["language"], now=timezone.now())
        if "reminders" in data:
            services.set_reminders(person=request.user, on=data["reminders"])
        if "consent_preference" in data:
            services.set_consent_preference(
                person=request.user, preference=data["consent_preference"], now=timezone.now()
            )
        return Response(s.MeSerializer(User.objects.select_related("profile").get(pk=request.user.pk)).data)


class CalendarLinkView(GenericAPIView):
    queryset = User.objects.none()
    serializer_class = s.CalendarLinkSerializer

    @extend_schema(operation_id="calendar_link_create", request=None, responses={201: s.CalendarLinkSerializer})
    def post(self, request):
        token = services.issue_calendar_token(person=request.user, now=timezone.now())
        response = Response(calendar_urls(token), status=status.HTTP_201_CREATED)
        response["Referrer-Policy"] = "no-referrer"
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(operation_id="calendar_link_destroy", responses={204: None})
    def delete(self, request):
        if not services.revoke_calendar_token(person=request.user):
            raise NotFound(gettext("You have no calendar link."))
        return Response(status=status.HTTP_204_NO_CONTENT)


class StationListView(GenericAPIView):
    serializer_class = s.StationSerializer
    queryset = Station.objects.prefetch_related("leads")

    @extend_schema(operation_id="stations_list", responses=s.StationSerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.StationSerializer(page, many=True).data)

    @extend_schema(operation_id="stations_create", responses={201: s.StationSerializer})
    def post(self, request):
        data = parse(s.StationSerializer, request)
        station = services.create_station(actor=request.user, now=timezone.now(), **data)
        return created(s.StationSerializer(station).data, "api-station", station.pk)


def station_or_404(pk) -> Station:
    station = Station.objects.prefetch_related("leads").filter(pk=get_int(pk, "station")).first()
    if station is None:
        raise NotFound(gettext("No station with that id."))
    return station


class StationDetailView(GenericAPIView):
    queryset = Station.objects.none()
    serializer_class = s.StationSerializer

    def get_object(self):
        return station_or_404(self.kwargs["pk"])

    @extend_schema(operation_id="stations_retrieve")
    def get(self, request, pk):
        return Response(s.StationSerializer(self.get_object()).data)

    @extend_schema(operation_id="stations_update")
    def patch(self, request, pk):
        station = self.get_object()
        data = parse(s.StationSerializer, request, partial=True)
        station = services.update_station(actor=request.user, station_id=station.pk, now=timezone.now(), **data)
        return Response(s.StationSerializer(Station.objects.get(pk=station.pk)).data)


class StationSuspendView(GenericAPIView):
    queryset = Station.objects.none()
    serializer_class = s.SuspendSerializer

    @extend_schema(operation_id="stations_suspend", responses={200: s.StationSerializer})
    def post(self, request, pk):
        station = station_or_404(pk)
        data = parse(s.SuspendSerializer, request)
        station = services.suspend_station(station_id=station.pk, actor=request.user, now=timezone.now(), **data)
        return Response(s.StationSerializer(station).data)

    @extend_schema(operation_id="stations_lift_suspension", responses={200: s.StationSerializer})
    def delete(self, request, pk):
        station = station_or_404(pk)
        station = services.lift_suspension(station_id=station.pk, actor=request.user, now=timezone.now())
        return Response(s.StationSerializer(station).data)


class ResourceListView(GenericAPIView):
    serializer_class = s.ResourceSerializer
    queryset = Resource.objects.order_by("station_id", "call_sign")

    @extend_schema(
        operation_id="resources_list",
        responses=s.ResourceSerializer(many=True),
        parameters=[OpenApiParameter("station", int, description="only this station's resources")],
    )
    def get(self, request):
        qs = self.get_queryset()
        station = request.query_params.get("station")
        if station is not None:
            qs = qs.filter(station_id=get_int(station, "station"))
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(s.ResourceSerializer(page, many=True).data)

    @extend_schema(operation_id="resources_create", responses={201: s.ResourceSerializer})
    def post(self, request):
        data = parse(s.ResourceSerializer, request)
        resource = services.create_resource(
            actor=request.user, station_id=data.pop("station_id"), now=timezone.now(), **data
        )
        return created(s.ResourceSerializer(resource).data, "api-resource", resource.pk)


class ResourceDetailView(GenericAPIView):
    queryset = Resource.objects.none()
    serializer_class = s.ResourceSerializer

    def get_object(self):
        resource = Resource.objects.filter(pk=get_int(self.kwargs["pk"], "resource")).first()
        if resource is None:
            raise NotFound(gettext("No resource with that id."))
        return resource

    @extend_schema(operation_id="resources_retrieve")
    def get(self, request, pk):
        return Response(s.ResourceSerializer(self.get_object()).data)

    @extend_schema(operation_id="resources_update")
    def patch(self, request, pk):
        resource = self.get_object()
        data = parse(s.ResourceSerializer, request, partial=True)
        resource = services.update_resource(actor=request.user, resource=resource, now=timezone.now(), **data)
        return Response(s.ResourceSerializer(resource).data)


class PersonListView(GenericAPIView):
    serializer_class = s.PersonSerializer
    queryset = User.objects.select_related("profile").order_by("pk")

    @extend_schema(operation_id="people_list", responses=s.PersonSerializer(many=True))
    def get(self, request):
        if not access.may_read_people(request.user):
            raise Forbidden(gettext("Only admins and station leads can list people."))
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.PersonSerializer(page, many=True, context=viewer(request)).data)

    @extend_schema(operation_id="people_create", responses={201: s.PersonSerializer})
    def post(self, request):
        data = parse(s.PersonSerializer, request)
        person = services.create_person(actor=request.user, now=timezone.now(), **data)
        return created(s.PersonSerializer(person, context=viewer(request)).data, "api-person", person.pk)


class PersonLookupView(GenericAPIView):
    """How a requester names a colleague as an observer: a few matches, each only id, username and name."""

    queryset = User.objects.none()
    serializer_class = s.PersonLookupSerializer
    pagination_class = None

    @extend_schema(
        operation_id="people_lookup",
        parameters=[OpenApiParameter("q", str, required=True, description="2 or more characters of a name")],
        responses=s.PersonLookupSerializer(many=True),
    )
    def get(self, request):
        if not access.may_look_up_people(request.user):
            raise Forbidden(gettext("Only requesters, leads and admins look people up."))
        query = parse_query(s.LookupQuerySerializer, request)
        return Response(s.PersonLookupSerializer(selectors.people_matching(query["q"]), many=True).data)


def person_for(viewer, pk) -> User:
    person_id = get_int(pk, "person")
    if not (access.may_read_people(viewer) or viewer.pk == person_id):
        raise NotFound(gettext("No person with that id."))
    person = User.objects.select_related("profile").filter(pk=person_id).first()
    if person is None:
        raise NotFound(gettext("No person with that id."))
    return person


class PersonDetailView(GenericAPIView):
    queryset = User.objects.none()
    serializer_class = s.PersonSerializer

    @extend_schema(operation_id="people_retrieve")
    def get(self, request, pk):
        return Response(s.PersonSerializer(person_for(request.user, pk), context=viewer(request)).data)

    @extend_schema(operation_id="people_update")
    def patch(self, request, pk):
        person = person_for(request.user, pk)
        data = parse(s.PersonSerializer, request, partial=True)
        person = services.update_person(person=person, actor=request.user, now=timezone.now(), **data)
        person = User.objects.select_related("profile").get(pk=person.pk)
        return Response(s.PersonSerializer(person, context=viewer(request)).data)


class PersonHistoryView(GenericAPIView):
    """What was recorded about a person (clearances): admins and the person themselves (SPEC §13)."""

    queryset = User.objects.none()
    serializer_class = s.PersonEventSerializer

    @extend_schema(operation_id="people_history", responses=s.PersonEventSerializer(many=True))
    def get(self, request, pk):
        person_id = get_int(pk, "person")
        if not access.may_read_person_history(request.user, person_id):
            raise NotFound(gettext("No person with that id."))
        person = person_for(request.user, person_id)
        page = self.paginate_queryset(AuditEvent.objects.filter(subject=person).order_by("at", "id"))
        return self.get_paginated_response(s.PersonEventSerializer(page, many=True).data)


class ClearanceListView(GenericAPIView):
    queryset = Clearance.objects.none()
    serializer_class = s.ClearanceSerializer

    @extend_schema(operation_id="clearances_list", responses=s.ClearanceSerializer(many=True))
    def get(self, request, pk):
        person = person_for(request.user, pk)
        page = self.paginate_queryset(Clearance.objects.filter(person=person).order_by("kind", "valid_from", "id"))
        return self.get_paginated_response(s.ClearanceSerializer(page, many=True).data)

    @extend_schema(operation_id="clearances_create", responses={201: s.ClearanceSerializer})
    def post(self, request, pk):
        person = person_for(request.user, pk)
        data = parse(s.ClearanceSerializer, request)
        clearance = services.add_clearance(actor=request.user, person=person, now=timezone.now(), **data)
        return created(s.ClearanceSerializer(clearance).data, "api-clearance", clearance.pk)


class ClearanceDetailView(GenericAPIView):
    queryset = Clearance.objects.none()
    serializer_class = s.ClearanceSerializer

    @extend_schema(operation_id="clearances_destroy", responses={204: None})
    def delete(self, request, pk):
        clearance = Clearance.objects.select_related("person").filter(pk=get_int(pk, "clearance")).first()
        if clearance is None or not (access.may_read_people(request.user) or clearance.person_id == request.user.pk):
            raise NotFound(gettext("No clearance with that id."))
        services.remove_clearance(actor=request.user, clearance=clearance, now=timezone.now())
        return Response(status=status.HTTP_204_NO_CONTENT)


class ShiftFilterSerializer(s.StrictSerializer):
    station = drf_serializers.IntegerField(required=False, min_value=1, max_value=s.MAX_ID)
    resource = drf_serializers.IntegerField(required=False, min_value=1, max_value=s.MAX_ID)
    status = drf_serializers.ChoiceField(choices=ShiftStatus.values, required=False)
    from_ = s.AwareDateTimeField(required=False)
    to = s.AwareDateTimeField(required=False)
    available = drf_serializers.BooleanField(required=False)
    page = drf_serializers.IntegerField(required=False)
    page_size = drf_serializers.IntegerField(required=False)

    def to_internal_value(self, data):
        data = {("from_" if k == "from" else k): v for k, v in data.items()}
        try:
            return super().to_internal_value(data)
        except drf_serializers.ValidationError as error:
            if isinstance(error.detail, dict) and "from_" in error.detail:
                error.detail["from"] = error.detail.pop("from_")
            raise


SHIFT_FILTERS = [
    OpenApiParameter("station", int),
    OpenApiParameter("resource", int),
    OpenApiParameter("status", str, enum=ShiftStatus.values),
    OpenApiParameter("from", OpenApiTypes.DATETIME, description="with an offset; shifts overlapping [from, to)"),
    OpenApiParameter("to", OpenApiTypes.DATETIME, description="with an offset"),
    OpenApiParameter("available", bool, description="open to a new request now with a free seat"),
]


class ShiftListView(GenericAPIView):
    queryset = Shift.objects.none()
    serializer_class = s.ShiftSerializer

    @extend_schema(operation_id="shifts_list", responses=s.ShiftSerializer(many=True), parameters=SHIFT_FILTERS)
    def get(self, request):
        params = ShiftFilterSerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        f = params.validated_data
        qs = selectors.shifts_for_listing()
        if "station" in f:
            qs = qs.filter(station_id=f["station"])
        if "resource" in f:
            qs = qs.filter(resource_id=f["resource"])
        if "status" in f:
            qs = qs.filter(status=f["status"])
        qs = selectors.shifts_overlapping(qs, f.get("from_"), f.get("to"))
        if f.get("available"):
            qs = selectors.shifts_open_now(qs, timezone.now())
        lead_station_ids(request.user)  # cached on the user: one query for the whole page
        page = self.paginate_queryset(qs.order_by("starts_at", "id"))
        return self.get_paginated_response(s.ShiftSerializer(page, many=True, context={"request": request}).data)

    @extend_schema(operation_id="shifts_create", responses={201: s.ShiftSerializer})
    def post(self, request):
        data = parse(s.ShiftSerializer, request)
        shift = services.create_shift(
            actor=request.user,
            resource_id=data["resource_id"],
            starts_at=data["starts_at"],
            ends_at=data["ends_at"],
            observer_seats=data.get("observer_seats"),
            external_ref=data.get("external_ref"),
            status=data.get("status", ShiftStatus.SCHEDULED),
            crew=_crew_pairs(data.get("crew", [])),
            now=timezone.now(),
        )
        return created(ShiftDetailView.present(request, shift.pk), "api-shift", shift.pk)


def _crew_pairs(entries) -> list[tuple[int, str]]:
    pairs = []
    for entry in entries:
        # A PATCH parses nested entries partially too, so either key may be missing here.
        if entry.get("person") is None or not entry.get("role"):
            raise Invalid(
                gettext("Name every crew member and their role."),
                fields={"crew": [gettext("Each crew entry needs a person id and a role.")]},
            )
        pairs.append((entry["person"], entry["role"]))
    return pairs


class ShiftDetailView(GenericAPIView):
    queryset = Shift.objects.none()
    serializer_class = s.ShiftSerializer

    @staticmethod
    def present(request, shift_id):
        shift = selectors.shifts_for_listing().filter(pk=shift_id).first()
        if shift is None:
            raise NotFound(gettext("No shift with that id."))
        return s.ShiftSerializer(shift, context={"request": request}).data

    @extend_schema(operation_id="shifts_retrieve")
    def get(self, request, pk):
        return Response(self.present(request, get_int(pk, "shift")))

    @extend_schema(operation_id="shifts_update")
    def patch(self, request, pk):
        shift_id = get_int(pk, "shift")
        self.present(request, shift_id)
        data = parse(s.ShiftSerializer, request, partial=True)
        change = services.ShiftChange()
        for src, dst in [
            ("starts_at", "starts_at"),
            ("ends_at", "ends_at"),
            ("observer_seats", "observer_seats"),
            ("status", "status"),
            ("resource_id", "resource_id"),
            ("external_ref", "external_ref"),
        ]:
            if src in data:
                setattr(change, dst, data[src])
        if change.observer_seats is None:
            raise Invalid(
                gettext("Give a number of seats."),
                fields={"observer_seats": [gettext("Give a whole number, 0 or more.")]},
            )
        if "crew" in data:
            change.crew = _crew_pairs(data["crew"])
        services.apply_shift_change(shift_id=shift_id, actor=request.user, change=change, now=timezone.now())
        return Response(self.present(request, shift_id))


class BookingFilterSerializer(s.StrictSerializer):
    status = drf_serializers.MultipleChoiceField(choices=BookingStatus.values, required=False)
    shift = drf_serializers.IntegerField(required=False, min_value=1, max_value=s.MAX_ID)
    station = drf_serializers.IntegerField(required=False, min_value=1, max_value=s.MAX_ID)
    role = drf_serializers.ChoiceField(choices=["requested", "observing", "hosting", "leading"], required=False)
    resource = drf_serializers.IntegerField(required=False, min_value=1, max_value=s.MAX_ID)
    observer = drf_serializers.IntegerField(required=False, min_value=1, max_value=s.MAX_ID)
    from_ = s.AwareDateTimeField(required=False)
    to = s.AwareDateTimeField(required=False)
    page = drf_serializers.IntegerField(required=False)
    page_size = drf_serializers.IntegerField(required=False)

    def to_internal_value(self, data):
        return super().to_internal_value({("from_" if k == "from" else k): v for k, v in data.items()})


BOOKING_FILTERS = [
    OpenApiParameter("status", str, enum=BookingStatus.values),
    OpenApiParameter("shift", int),
    OpenApiParameter("station", int),
    OpenApiParameter("role", str, enum=["requested", "observing", "hosting", "leading"]),
    OpenApiParameter("resource", int),
    OpenApiParameter("observer", int, description="bookings with this person's place"),
    OpenApiParameter("from", OpenApiTypes.DATETIME, description="with an offset; shifts overlapping [from, to)"),
    OpenApiParameter("to", OpenApiTypes.DATETIME, description="with an offset"),
]


def present_booking(request, booking_id):
    booking = access.access_booking(request.user, booking_id)
    return s.BookingSerializer(booking, context={"request": request}).data


class BookingListView(GenericAPIView):
    queryset = Booking.objects.none()
    serializer_class = s.BookingSerializer

    @extend_schema(operation_id="bookings_list", responses=s.BookingSerializer(many=True), parameters=BOOKING_FILTERS)
    def get(self, request):
        raw = {k: v for k, v in request.query_params.items()}
        if "status" in raw:
            raw["status"] = [v for part in request.query_params.getlist("status") for v in part.split(",")]
        params = BookingFilterSerializer(data=raw)
        params.is_valid(raise_exception=True)
        f = params.validated_data
        me = request.user
        qs = access.bookings_for_listing(me)
        if f.get("status"):
            qs = qs.filter(status__in=sorted(f["status"]))
        if "shift" in f:
            qs = qs.filter(shift_id=f["shift"])
        if "station" in f:
            qs = qs.filter(shift__station_id=f["station"])
        if "resource" in f:
            qs = qs.filter(shift__resource_id=f["resource"])
        if "observer" in f:
            qs = qs.filter(places__person_id=f["observer"]).distinct()
        if "to" in f:
            qs = qs.filter(shift__starts_at__lt=f["to"])
        if "from_" in f:
            qs = qs.filter(shift__ends_at__gt=f["from_"])
        role = f.get("role")
        if role == "requested":
            qs = qs.filter(requested_by=me)
        elif role == "observing":
            qs = qs.filter(places__person=me).distinct()
        elif role == "hosting":
            qs = qs.filter(shift__crew_members__person=me).distinct()
        elif role == "leading":
            qs = qs.filter(shift__station_id__in=lead_station_ids(me))
        page = self.paginate_queryset(qs.order_by("-created_at", "-id"))
        return self.get_paginated_response(s.BookingSerializer(page, many=True, context={"request": request}).data)

    idempotent = True

    @extend_schema(
        operation_id="bookings_create",
        request=s.BookingRequestSerializer,
        responses={201: s.BookingSerializer},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                location="header",
                required=False,
                description="Repeat a request safely: the same key and body replay the first answer for 24 hours.",
            )
        ],
    )
    def post(self, request):
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return self._create(request)
        return idempotent(request, key, lambda: self._create(request))

    def _create(self, request):
        if not request.user.profile.is_requester:
            raise Forbidden(gettext("Only requesters can ask for ride-alongs."))
        data = parse(s.BookingRequestSerializer, request)
        booking = services.request_booking(
            actor=request.user,
            shift_id=data["shift"],
            observer_ids=data.get("observers"),
            purpose=data["purpose"],
            allow_waitlist=data["allow_waitlist"],
            now=timezone.now(),
        )
        # The requester may always see what they just made; the service hands back its places and consents.
        return created(s.BookingSerializer(booking, context={"request": request}).data, "api-booking", booking.pk)


IDEMPOTENCY_TTL = IdempotencyRecord.TTL


def idempotent(request, key: str, run) -> Response:
    """Replay the first response to a repeated key and body; refuse a reused key (SPEC §6)."""
    if not key or len(key) > 255 or not all(32 <= ord(c) < 127 for c in key):
        raise Invalid(
            gettext("Idempotency-Key must be 1 to 255 printable ASCII characters (a UUID is a good choice)."),
            fields={"Idempotency-Key": [gettext("1 to 255 printable ASCII characters.")]},
        )
    try:
        body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        body = repr(request.data)
    digest = hashlib.sha256(body.encode()).hexdigest()
    now = timezone.now()
    IdempotencyRecord.objects.filter(person=request.user, key=key, created_at__lt=now - IDEMPOTENCY_TTL).delete()
    try:
        # Committed at once, so a concurrent repeat sees the key is taken.
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(person=request.user, key=key, request_hash=digest, created_at=now)
    except IntegrityError:
        record = IdempotencyRecord.objects.filter(person=request.user, key=key).first()
        if record is None:
            return error_response(
                "idempotency_in_progress",
                gettext("The first request with this key is still running."),
                409,
                headers={"Retry-After": "1"},
            )
        if record.request_hash != digest:
            return error_response(
                "idempotency_key_reused",
                gettext("This Idempotency-Key was used with a different body; use a new key."),
                422,
            )
        if record.status_code is None:
            # A first request whose process died (a killed worker) never finishes: after the lease
            # the key is free again, and exactly one repeat may take it over.
            lease = timedelta(seconds=settings.RIDEALONG_IDEMPOTENCY_LEASE_SECONDS)
            taken = record.created_at <= now - lease and IdempotencyRecord.objects.filter(
                pk=record.pk, status_code__isnull=True, created_at=record.created_at
            ).update(created_at=now)
            if not taken:
                wait = max(1, int((record.created_at + lease - now).total_seconds()))
                return error_response(
                    "idempotency_in_progress",
                    gettext("The first request with this key is still running."),
                    409,
                    headers={"Retry-After": str(min(wait, 5))},
                )
        else:
            return Response(record.response_body, status=record.status_code)
    try:
        response = run()
    except BookingError as error:
        if error.status >= 500:
            record.delete()
            raise
        IdempotencyRecord.objects.filter(pk=record.pk).update(status_code=error.status, response_body=error.as_body())
        raise
    except Exception:
        record.delete()
        raise
    IdempotencyRecord.objects.filter(pk=record.pk).update(status_code=response.status_code, response_body=response.data)
    return response


class BookingDetailView(GenericAPIView):
    queryset = Booking.objects.none()
    serializer_class = s.BookingSerializer

    @extend_schema(operation_id="bookings_retrieve")
    def get(self, request, pk):
        return Response(present_booking(request, pk))


def booking_action(body, service, *, name: str, summary: str):
    """A POST on a booking: 404 unless visible, then the one service call, given the body's fields as
    they are; answers the booking as it now is. `body` is the request's serializer, or None."""

    class View(GenericAPIView):
        serializer_class = s.BookingSerializer
        queryset = Booking.objects.none()

        @extend_schema(
            operation_id=f"bookings_{name}", request=body, responses={200: s.BookingSerializer}, summary=summary
        )
        def post(self, request, pk):
            booking = access.access_booking(request.user, pk)
            data = parse(body or EmptySerializer, request)
            service(booking_id=booking.pk, actor=request.user, now=timezone.now(), **data)
            return Response(present_booking(request, booking.pk))

    View.__name__ = name.title().replace("_", "") + "View"
    return View


class EmptySerializer(s.StrictSerializer):
    pass


ApproveView = booking_action(None, services.approve_booking, name="approve", summary="approve booking")
DeclineView = booking_action(s.DeclineSerializer, services.decline_booking, name="decline", summary="decline booking")
CancelView = booking_action(s.CancelSerializer, services.cancel_booking, name="cancel", summary="cancel booking")
ConsentView = booking_action(
    s.ConsentDecisionSerializer, services.respond_to_booking, name="consent", summary="consent decision"
)
OutcomeView = booking_action(s.OutcomeSerializer, services.record_outcome, name="outcome", summary="record outcome")


class BookingHistoryView(GenericAPIView):
    queryset = AuditEvent.objects.none()
    serializer_class = s.AuditEventSerializer
    pagination_class = None

    @extend_schema(operation_id="bookings_history", responses=s.AuditEventSerializer(many=True))
    def get(self, request, pk):
        booking = access.access_booking(request.user, pk)
        events = AuditEvent.objects.filter(booking=booking).order_by("at", "id")
        context = {
            "show_private": access.sees_private(request.user, booking.shift.station_id),
            "tz": booking.shift.station.tz,
        }
        return Response(s.AuditEventSerializer(events, many=True, context=context).data)


class BookingIcsView(GenericAPIView):
    queryset = Booking.objects.none()
    serializer_class = s.BookingSerializer

    @extend_schema(operation_id="bookings_ics", responses={(200, "text/calendar"): str})
    def get(self, request, pk):
        booking = access.access_booking(request.user, pk)
        body = build_feed(owner=request.user, bookings=[booking], now=timezone.now(), name="Ride-along")
        response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="ride-along-{booking.pk}.ics"'
        return response


def _now():
    return timezone.now()


class ReflectionView(GenericAPIView):
    """One's own reflection on a past ride-along (SPEC §14)."""

    queryset = Booking.objects.none()
    serializer_class = s.ReflectionSerializer

    @extend_schema(operation_id="bookings_reflection_retrieve")
    def get(self, request, pk):
        booking = access.access_booking(request.user, pk)
        reflection = after.own_reflection(person=request.user, booking=booking, now=_now())
        return Response(s.ReflectionSerializer(reflection).data)

    @extend_schema(operation_id="bookings_reflection_update", responses={200: s.ReflectionSerializer})
    def put(self, request, pk):
        booking = access.access_booking(request.user, pk)
        data = parse(s.ReflectionSerializer, request)
        reflection = after.save_reflection(
            person=request.user, booking=booking, text=data["text"], shared=data["shared"], now=_now()
        )
        return Response(s.ReflectionSerializer(reflection).data)


class ReflectionListView(GenericAPIView):
    queryset = Booking.objects.none()
    serializer_class = s.ReflectionSerializer
    pagination_class = None

    @extend_schema(operation_id="bookings_reflections_list", responses=s.ReflectionSerializer(many=True))
    def get(self, request, pk):
        booking = access.access_booking(request.user, pk)
        reflections = after.readable_reflections(person=request.user, booking=booking, now=_now())
        return Response(s.ReflectionSerializer(reflections, many=True).data)


class ActionListView(GenericAPIView):
    queryset = Booking.objects.none()
    serializer_class = s.ActionSerializer
    pagination_class = None

    @extend_schema(operation_id="bookings_actions_list", responses=s.ActionSerializer(many=True))
    def get(self, request, pk):
        booking = access.access_booking(request.user, pk)
        after.ensure_observer(request.user, booking)
        after.ensure_after_shift(booking, _now())
        return Response(s.ActionSerializer(booking.actions.order_by("due_on", "id"), many=True).data)

    @extend_schema(operation_id="bookings_actions_create", responses={201: s.ActionSerializer})
    def post(self, request, pk):
        booking = access.access_booking(request.user, pk)
        data = parse(s.ActionSerializer, request)
        action = after.add_action(
            person=request.user,
            booking=booking,
            text=data["text"],
            owner_id=data.get("owner_id"),
            due_on=data.get("due_on"),
            done=data["done"],
            now=_now(),
        )
        return created(s.ActionSerializer(action).data, "api-action", action.pk)


class ActionDetailView(GenericAPIView):
    queryset = Booking.objects.none()
    serializer_class = s.ActionSerializer

    @extend_schema(operation_id="actions_update", request=s.ActionPatchSerializer)
    def patch(self, request, pk):
        action = after.action_for(request.user, pk)
        data = parse(s.ActionPatchSerializer, request)
        action = after.update_action(person=request.user, action=action, now=_now(), **data)
        return Response(s.ActionSerializer(action).data)

    @extend_schema(operation_id="actions_destroy", responses={204: None})
    def delete(self, request, pk):
        action = after.action_for(request.user, pk)
        after.delete_action(person=request.user, action=action, now=_now())
        return Response(status=status.HTTP_204_NO_CONTENT)


class FeedbackView(GenericAPIView):
    queryset = Booking.objects.none()
    serializer_class = s.FeedbackSerializer
    pagination_class = None

    @extend_schema(operation_id="bookings_feedback_list", responses=s.FeedbackSerializer(many=True))
    def get(self, request, pk):
        booking = access.access_booking(request.user, pk)
        items = after.readable_feedback(person=request.user, booking=booking, now=_now())
        context = {"viewer": request.user, "station_id": booking.shift.station_id}
        return Response(s.FeedbackSerializer(items, many=True, context=context).data)

    @extend_schema(operation_id="bookings_feedback_create", responses={201: s.FeedbackSerializer})
    def post(self, request, pk):
        booking = access.access_booking(request.user, pk)
        data = parse(s.FeedbackSerializer, request)
        item = after.leave_feedback(person=request.user, booking=booking, text=data["text"], now=_now())
        context = {"viewer": request.user, "station_id": booking.shift.station_id}
        response = Response(s.FeedbackSerializer(item, context=context).data, status=status.HTTP_201_CREATED)
        response["Location"] = reverse("api-booking-feedback", kwargs={"pk": booking.pk})
        return response


def learning_entry(person, booking) -> dict:
    """One row of the learning log, with §13's privacy for feedback."""
    shift = booking.shift
    tz = shift.station.tz
    context = {"viewer": person, "station_id": shift.station_id}
    own = next((r for r in booking.reflections.all() if r.author_id == person.pk), None)
    return {
        "booking": booking.pk,
        "shift": shift.pk,
        "label": shift.label,
        "starts_at": s.local_iso(shift.starts_at, tz),
        "ends_at": s.local_iso(shift.ends_at, tz),
        "station": shift.station.name,
        "purpose": booking.purpose,
        "outcome": booking.outcome or None,
        "reflection": s.ReflectionSerializer(own).data if own else None,
        "shared_reflections": s.ReflectionSerializer(
            [r for r in booking.reflections.all() if r.shared and r.author_id != person.pk], many=True
        ).data,
        "actions": s.ActionSerializer(booking.actions.all(), many=True).data,
        "feedback": s.FeedbackSerializer(booking.feedback.all(), many=True, context=context).data,
    }


class LearningView(GenericAPIView):
    """My learning log (SPEC §14): past ride-alongs, newest first."""

    queryset = Booking.objects.none()
    serializer_class = s.LearningEntrySerializer

    @extend_schema(operation_id="me_learning", responses=s.LearningEntrySerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(selectors.learning_log(request.user, _now()))
        return self.get_paginated_response([learning_entry(request.user, b) for b in page])


class ExportView(GenericAPIView):
    """Everything held about the signed-in person, as one JSON document (SPEC §13)."""

    queryset = User.objects.none()
    serializer_class = s.ExportSerializer

    @extend_schema(operation_id="me_export", responses={200: s.ExportSerializer})
    def get(self, request):
        from ..export import export_person

        response = Response(export_person(request.user, now=_now()))
        response["Content-Disposition"] = 'attachment; filename="my-ridealong-data.json"'
        response["Cache-Control"] = "no-store"
        return response


class ReportQuerySerializer(s.StrictSerializer):
    from_ = s.AwareDateTimeField(required=False)
    to = s.AwareDateTimeField(required=False)

    def to_internal_value(self, data):
        return super().to_internal_value({("from_" if k == "from" else k): v for k, v in data.items()})


class StationReportView(GenericAPIView):
    """The station's hosting load and ride-alongs per month, for its leads and admins (SPEC §15)."""

    queryset = Station.objects.none()
    serializer_class = s.StationReportSerializer

    @extend_schema(
        operation_id="stations_report",
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATETIME, description="with an offset; default a year ago"),
            OpenApiParameter("to", OpenApiTypes.DATETIME, description="with an offset; default the end of next month"),
        ],
    )
    def get(self, request, pk):
        from ..reports import default_range, station_report

        station = station_or_404(pk)
        if not access.leads_or_admin(request.user, station.pk):
            raise Forbidden(gettext("Only the station's leads and admins see its report."))
        query = parse_query(ReportQuerySerializer, request)
        start, end = default_range(station, _now())
        start, end = query.get("from_", start), query.get("to", end)
        if end <= start:
            raise Invalid(gettext("`to` must be after `from`."), fields={"to": [gettext("Must be after from.")]})
        return Response(station_report(station, start=start, end=end, now=_now()))
