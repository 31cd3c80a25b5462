"""Open requests in the API (SPEC §17): ask for a date, and the station's leads place it."""

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from .. import access
from ..models import OpenRequest, OpenRequestStatus, ResourceKind, TimeOfDay
from ..services import open_requests
from .serializers import MAX_ID, StrictSerializer, local_iso
from .views import EmptySerializer, created, parse


class OpenRequestSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    requested_by = serializers.IntegerField()
    station = serializers.IntegerField()
    from_date = serializers.DateField()
    to_date = serializers.DateField()
    time_of_day = serializers.ChoiceField(choices=TimeOfDay.choices)
    resource_kind = serializers.ChoiceField(choices=ResourceKind.choices, allow_null=True)
    observers = serializers.ListField(child=serializers.IntegerField())
    purpose = serializers.CharField()
    status = serializers.ChoiceField(choices=OpenRequestStatus.choices)
    booking = serializers.IntegerField(allow_null=True)
    close_reason = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()

    def to_representation(self, request: OpenRequest):
        return {
            "id": request.pk,
            "requested_by": request.requested_by_id,
            "station": request.station_id,
            "from_date": request.from_date.isoformat(),
            "to_date": request.to_date.isoformat(),
            "time_of_day": request.time_of_day,
            "resource_kind": request.resource_kind or None,
            "observers": sorted(p.pk for p in request.observers.all()),
            "purpose": request.purpose,
            "status": request.status,
            "booking": request.booking_id,
            "close_reason": request.close_reason or None,
            "created_at": local_iso(request.created_at, request.station.tz),
        }


class OpenRequestCreateSerializer(StrictSerializer):
    station = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    from_date = serializers.DateField()
    to_date = serializers.DateField()
    time_of_day = serializers.ChoiceField(choices=TimeOfDay.choices, required=False, default=TimeOfDay.ANY)
    resource_kind = serializers.ChoiceField(choices=ResourceKind.choices, required=False, allow_null=True)
    observers = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False, allow_empty=False, max_length=100
    )
    purpose = serializers.CharField(max_length=2000, trim_whitespace=True)


class PlaceSerializer(StrictSerializer):
    shift = serializers.IntegerField(min_value=1, max_value=MAX_ID)


class CloseSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=2000)


class CrewPlaceSerializer(serializers.Serializer):
    person = serializers.IntegerField()
    role = serializers.CharField()


class SuggestionSerializer(serializers.Serializer):
    shift = serializers.IntegerField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    resource = serializers.IntegerField()
    seats_free = serializers.IntegerField()
    crew_load = serializers.IntegerField()
    crew = CrewPlaceSerializer(many=True)

    def to_representation(self, suggestion):
        shift, tz = suggestion.shift, suggestion.shift.station.tz
        return {
            "shift": shift.pk,
            "starts_at": local_iso(shift.starts_at, tz),
            "ends_at": local_iso(shift.ends_at, tz),
            "resource": shift.resource_id,
            "seats_free": suggestion.seats_free,
            "crew_load": suggestion.crew_load,
            "crew": [{"person": c.person_id, "role": c.role} for c in suggestion.crew],
        }


class OpenRequestFilterSerializer(StrictSerializer):
    status = serializers.ChoiceField(choices=OpenRequestStatus.choices, required=False)
    station = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    page = serializers.IntegerField(min_value=1, required=False)
    page_size = serializers.IntegerField(min_value=1, max_value=200, required=False)


def _present(request_id: int, reader) -> dict:
    return OpenRequestSerializer(access.access_open_request(reader, request_id)).data


class OpenRequestListView(GenericAPIView):
    queryset = OpenRequest.objects.none()
    serializer_class = OpenRequestSerializer

    @extend_schema(
        operation_id="open_requests_list",
        responses=OpenRequestSerializer(many=True),
        parameters=[
            OpenApiParameter("status", str, enum=OpenRequestStatus.values),
            OpenApiParameter("station", int),
        ],
    )
    def get(self, request):
        params = OpenRequestFilterSerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        qs = access.open_requests_visible_to(request.user)
        if "status" in params.validated_data:
            qs = qs.filter(status=params.validated_data["status"])
        if "station" in params.validated_data:
            qs = qs.filter(station_id=params.validated_data["station"])
        page = self.paginate_queryset(qs.order_by("-created_at", "-id"))
        return self.get_paginated_response(OpenRequestSerializer(page, many=True).data)

    @extend_schema(
        operation_id="open_requests_create", request=OpenRequestCreateSerializer, responses={201: OpenRequestSerializer}
    )
    def post(self, request):
        data = parse(OpenRequestCreateSerializer, request)
        made = open_requests.create_open_request(
            actor=request.user,
            station_id=data["station"],
            from_date=data["from_date"],
            to_date=data["to_date"],
            time_of_day=data["time_of_day"],
            resource_kind=data.get("resource_kind"),
            observer_ids=data.get("observers"),
            purpose=data["purpose"],
            now=timezone.now(),
        )
        return created(_present(made.pk, request.user), "api-open-request", made.pk)


class OpenRequestDetailView(GenericAPIView):
    queryset = OpenRequest.objects.none()
    serializer_class = OpenRequestSerializer

    @extend_schema(operation_id="open_requests_retrieve")
    def get(self, request, pk):
        return Response(_present(pk, request.user))


class SuggestionListView(GenericAPIView):
    queryset = OpenRequest.objects.none()
    serializer_class = SuggestionSerializer
    pagination_class = None

    @extend_schema(operation_id="open_requests_suggestions", responses=SuggestionSerializer(many=True))
    def get(self, request, pk):
        found = access.access_open_request(request.user, pk, suggestions=True)
        return Response(SuggestionSerializer(open_requests.suggestions(found, now=timezone.now()), many=True).data)


def request_action(body, service, *, name: str):
    """A POST on an open request: 404 unless visible, then the one service call; answers the request."""

    class View(GenericAPIView):
        serializer_class = OpenRequestSerializer
        queryset = OpenRequest.objects.none()

        @extend_schema(operation_id=f"open_requests_{name}", request=body, responses={200: OpenRequestSerializer})
        def post(self, request, pk):
            found = access.access_open_request(request.user, pk)
            data = parse(body or EmptySerializer, request)
            if "shift" in data:
                data["shift_id"] = data.pop("shift")
            service(request_id=found.pk, actor=request.user, now=timezone.now(), **data)
            return Response(_present(found.pk, request.user))

    View.__name__ = "OpenRequest" + name.title() + "View"
    return View


WithdrawView = request_action(None, open_requests.withdraw_open_request, name="withdraw")
CloseView = request_action(CloseSerializer, open_requests.close_open_request, name="close")
PlaceView = request_action(PlaceSerializer, open_requests.place_open_request, name="place")
