from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token


class BearerTokenAuthentication(TokenAuthentication):
    """`Authorization: Token …` (SPEC §6); `Bearer …` is accepted too, as many HTTP clients send it."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header[:7].lower() == "bearer ":
            request.META["HTTP_AUTHORIZATION"] = "Token " + header[7:]
        return super().authenticate(request)

    def authenticate_credentials(self, key):
        # The profile comes with the user: nearly every endpoint reads it.
        token = Token.objects.select_related("user__profile").filter(key=key).first()
        if token is None or not token.user.is_active:
            return super().authenticate_credentials(key)  # DRF's own error for each case
        return token.user, token
