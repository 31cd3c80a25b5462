"""Invitations in the API (SPEC §19): invite a visitor from outside the trust; list those one has sent."""

from django.utils import timezone
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from ..errors import NotFound
from ..models import Invitation, display_name
from ..services import visitors
from .serializers import StrictSerializer, local_iso
from .views import created, get_int, parse


class InvitationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    person = serializers.IntegerField()
    name = serializers.CharField()
    email = serializers.EmailField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    accepted_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, invitation: Invitation):
        tz = timezone.get_current_timezone()
        return {
            "id": invitation.pk,
            "person": invitation.person_id,
            "name": display_name(invitation.person),
            "email": invitation.email,
            "created_at": local_iso(invitation.created_at, tz),
            "expires_at": local_iso(invitation.expires_at, tz),
            "accepted_at": local_iso(invitation.accepted_at, tz),
        }


class InviteSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200)
    email = serializers.CharField(max_length=254)


class InvitationListView(GenericAPIView):
    queryset = Invitation.objects.none()
    serializer_class = InvitationSerializer

    @extend_schema(operation_id="invitations_list", responses=InvitationSerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(visitors.invitations_sent_by(request.user).order_by("-created_at", "-id"))
        return self.get_paginated_response(InvitationSerializer(page, many=True).data)

    @extend_schema(operation_id="invitations_create", request=InviteSerializer, responses={201: InvitationSerializer})
    def post(self, request):
        data = parse(InviteSerializer, request)
        invitation = visitors.invite(actor=request.user, name=data["name"], email=data["email"], now=timezone.now())
        return created(InvitationSerializer(invitation).data, "api-invitation", invitation.pk)


class InvitationDetailView(GenericAPIView):
    queryset = Invitation.objects.none()
    serializer_class = InvitationSerializer

    @extend_schema(operation_id="invitations_retrieve")
    def get(self, request, pk):
        found = visitors.invitations_sent_by(request.user).filter(pk=get_int(pk, "invitation")).first()
        if found is None:
            raise NotFound(gettext("No invitation with that id."))
        return Response(InvitationSerializer(found).data)
