"""Programmes in the API (SPEC §18): admins set them up, coordinators manage members and read progress."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from .. import access
from ..models import Programme
from ..services import programmes
from .serializers import MAX_ID, StrictSerializer
from .views import created, get_int, parse

STATES = ["met", "on_track", "behind", "not_started"]


class ProgrammeSerializer(StrictSerializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=200)
    starts_on = serializers.DateField()
    ends_on = serializers.DateField()
    coordinators = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False, max_length=200
    )
    members = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False, max_length=5000
    )
    target_ride_alongs = serializers.IntegerField(min_value=0, max_value=10_000, required=False, allow_null=True)
    target_nights = serializers.IntegerField(min_value=0, max_value=10_000, required=False, allow_null=True)
    target_hours = serializers.DecimalField(
        max_digits=7, decimal_places=1, min_value=0, required=False, allow_null=True, coerce_to_string=False
    )
    target_stations = serializers.IntegerField(min_value=0, max_value=10_000, required=False, allow_null=True)

    def to_representation(self, programme: Programme):
        return {
            "id": programme.pk,
            "name": programme.name,
            "starts_on": programme.starts_on.isoformat(),
            "ends_on": programme.ends_on.isoformat(),
            "coordinators": sorted(p.pk for p in programme.coordinators.all()),
            "members": sorted(p.pk for p in programme.members.all()),
            "target_ride_alongs": programme.target_ride_alongs,
            "target_nights": programme.target_nights,
            "target_hours": float(programme.target_hours) if programme.target_hours is not None else None,
            "target_stations": programme.target_stations,
        }


class MeasureSerializer(serializers.Serializer):
    done = serializers.FloatField()
    target = serializers.FloatField(allow_null=True)
    state = serializers.ChoiceField(choices=STATES, allow_null=True)


class MemberNameSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ProgressSerializer(serializers.Serializer):
    person = MemberNameSerializer()
    ride_alongs = MeasureSerializer()
    nights = MeasureSerializer()
    hours = MeasureSerializer()
    stations = MeasureSerializer()
    state = serializers.ChoiceField(choices=STATES, allow_null=True)

    def to_representation(self, row):
        return row


class MyProgrammeSerializer(serializers.Serializer):
    programme = ProgrammeSerializer()
    progress = ProgressSerializer()

    def to_representation(self, pair):
        programme, row = pair
        data = ProgrammeSerializer(programme).data
        # A member sees the programme and their own row, not who else is on it.
        data.pop("members")
        return {"programme": data, "progress": row}


class MemberSerializer(StrictSerializer):
    person = serializers.IntegerField(min_value=1, max_value=MAX_ID)


def _fresh(programme_id: int, reader) -> dict:
    return ProgrammeSerializer(access.access_programme(reader, programme_id)).data


class ProgrammeListView(GenericAPIView):
    queryset = Programme.objects.none()
    serializer_class = ProgrammeSerializer

    @extend_schema(operation_id="programmes_list", responses=ProgrammeSerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(access.programmes_visible_to(request.user).order_by("starts_on", "id"))
        return self.get_paginated_response(ProgrammeSerializer(page, many=True).data)

    @extend_schema(operation_id="programmes_create", request=ProgrammeSerializer, responses={201: ProgrammeSerializer})
    def post(self, request):
        data = parse(ProgrammeSerializer, request)
        made = programmes.create_programme(actor=request.user, now=timezone.now(), **data)
        return created(_fresh(made.pk, request.user), "api-programme", made.pk)


class ProgrammeDetailView(GenericAPIView):
    queryset = Programme.objects.none()
    serializer_class = ProgrammeSerializer

    @extend_schema(operation_id="programmes_retrieve")
    def get(self, request, pk):
        return Response(_fresh(pk, request.user))

    @extend_schema(operation_id="programmes_partial_update", request=ProgrammeSerializer)
    def patch(self, request, pk):
        found = access.access_programme(request.user, pk)
        data = parse(ProgrammeSerializer, request, partial=True)
        members = data.pop("members", None)
        programmes.update_programme(actor=request.user, programme_id=found.pk, now=timezone.now(), **data)
        if members is not None:
            programmes.set_members(actor=request.user, programme_id=found.pk, person_ids=members, now=timezone.now())
        return Response(_fresh(found.pk, request.user))


class MemberListView(GenericAPIView):
    queryset = Programme.objects.none()
    serializer_class = ProgrammeSerializer

    @extend_schema(
        operation_id="programmes_members_add", request=MemberSerializer, responses={200: ProgrammeSerializer}
    )
    def post(self, request, pk):
        found = access.access_programme(request.user, pk)
        data = parse(MemberSerializer, request)
        programmes.add_member(actor=request.user, programme_id=found.pk, person_id=data["person"], now=timezone.now())
        return Response(_fresh(found.pk, request.user))


class MemberDetailView(GenericAPIView):
    queryset = Programme.objects.none()
    serializer_class = ProgrammeSerializer

    @extend_schema(operation_id="programmes_members_remove", responses={204: None})
    def delete(self, request, pk, person):
        found = access.access_programme(request.user, pk)
        person_id = get_int(person, "member")
        programmes.remove_member(actor=request.user, programme_id=found.pk, person_id=person_id, now=timezone.now())
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProgressView(GenericAPIView):
    queryset = Programme.objects.none()
    serializer_class = ProgressSerializer

    @extend_schema(operation_id="programmes_progress", responses=ProgressSerializer(many=True))
    def get(self, request, pk):
        found = access.access_programme(request.user, pk)
        members = found.members.select_related("profile").order_by("profile__name", "username", "pk")
        page = self.paginate_queryset(members)
        rows = programmes.progress_rows(found, list(page), today=programmes.today_for())
        return self.get_paginated_response(rows)


class MyProgrammesView(GenericAPIView):
    queryset = Programme.objects.none()
    serializer_class = MyProgrammeSerializer
    pagination_class = None

    @extend_schema(operation_id="me_programmes", responses=MyProgrammeSerializer(many=True))
    def get(self, request):
        today = programmes.today_for()
        mine = (
            Programme.objects.filter(members=request.user).prefetch_related("coordinators").order_by("starts_on", "id")
        )
        pairs = [(p, programmes.progress_rows(p, [request.user], today=today)[0]) for p in mine]
        return Response(MyProgrammeSerializer(pairs, many=True).data)
