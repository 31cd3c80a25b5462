from django.utils import timezone
from django.utils.translation import gettext
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed

from ..languages import api_language
from ..services import accounts


class ApiTokenAuthentication(BaseAuthentication):
    """`Authorization: Token rlt_…` or `Bearer rlt_…` (SPEC §12); only the token's digest is stored."""

    keywords = ("token", "bearer")

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, secret = header.partition(" ")
        if scheme.lower() not in self.keywords:
            return None
        secret = secret.strip()
        if not secret or " " in secret:
            raise AuthenticationFailed(gettext("Send one token after the word Token or Bearer."))
        person = accounts.person_for_api_token(secret, now=timezone.now())
        if person is None:
            raise AuthenticationFailed(gettext("That token is unknown, expired or revoked."))
        api_language(request, person)
        return person, None

    def authenticate_header(self, request):
        return 'Token realm="api"'
