"""Paperwork in the API (SPEC §19): the current documents, one's own paperwork, and signing it."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from ..models import PaperworkDocument
from ..services import paperwork
from .serializers import ClearanceSerializer, StrictSerializer, local_iso
from .views import parse


class DocumentSerializer(serializers.Serializer):
    kind = serializers.CharField()
    version = serializers.IntegerField()
    title = serializers.CharField()
    body = serializers.CharField(help_text="Plain text, paragraphs separated by a blank line; never HTML.")
    valid_days = serializers.IntegerField()
    published_at = serializers.DateTimeField()

    def to_representation(self, document):
        return {
            "kind": document.kind,
            "version": document.version,
            "title": document.title,
            "body": document.body,
            "valid_days": document.valid_days,
            "published_at": local_iso(document.published_at, timezone.get_current_timezone()),
        }


class MyPaperworkSerializer(serializers.Serializer):
    kind = serializers.CharField()
    document = DocumentSerializer(allow_null=True)
    clearance = ClearanceSerializer(allow_null=True)

    def to_representation(self, entry):
        return {
            "kind": entry["kind"],
            "document": DocumentSerializer(entry["document"]).data if entry["document"] else None,
            "clearance": ClearanceSerializer(entry["clearance"]).data if entry["clearance"] else None,
        }


class SignSerializer(StrictSerializer):
    version = serializers.IntegerField(min_value=1, max_value=1_000_000)
    full_name = serializers.CharField(max_length=200)
    agree = serializers.BooleanField()


class PaperworkView(GenericAPIView):
    serializer_class = DocumentSerializer
    pagination_class = None

    queryset = PaperworkDocument.objects.none()

    @extend_schema(operation_id="paperwork_list", responses=DocumentSerializer(many=True))
    def get(self, request):
        return Response(DocumentSerializer(list(paperwork.current_documents().values()), many=True).data)


class MyPaperworkView(GenericAPIView):
    serializer_class = MyPaperworkSerializer
    pagination_class = None

    queryset = PaperworkDocument.objects.none()

    @extend_schema(operation_id="me_paperwork", responses=MyPaperworkSerializer(many=True))
    def get(self, request):
        entries = paperwork.my_paperwork(request.user, now=timezone.now())
        return Response(MyPaperworkSerializer(entries, many=True).data)


class SignView(GenericAPIView):
    serializer_class = ClearanceSerializer

    queryset = PaperworkDocument.objects.none()

    @extend_schema(operation_id="me_paperwork_sign", request=SignSerializer, responses={201: ClearanceSerializer})
    def post(self, request, kind):
        data = parse(SignSerializer, request)
        clearance = paperwork.sign(person=request.user, kind=kind, now=timezone.now(), **data)
        response = Response(ClearanceSerializer(clearance).data, status=201)
        response["Location"] = f"/api/v1/people/{request.user.pk}/clearances"
        return response
