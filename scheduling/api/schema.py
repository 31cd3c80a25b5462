"""The OpenAPI schema as the contract (SPEC §6): every status an operation can answer, one Error component."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny

ERROR_CODES = {
    "400": "The input is not valid (`invalid`, with `fields`).",
    "401": "Not signed in, or the token is unknown, expired or revoked (`not_authenticated`).",
    "403": "Signed in but not allowed (`forbidden`, `conflict_of_interest`).",
    "404": "Not found, or not visible to you (`not_found`).",
    "409": "A rule of SPEC §5.2 (its code) or an impossible change (`invalid_transition`, `too_early`, …).",
    "413": "The body is too large (`too_large`).",
    "422": "The Idempotency-Key was used with a different body (`idempotency_key_reused`).",
    "429": "Too many attempts or requests (`too_many_attempts`, `throttled`); see Retry-After.",
    "503": "Busy or unavailable (`busy`, `unavailable`); see Retry-After.",
}


class ErrorSerializer(serializers.Serializer):
    """Every 4xx and 503 answer has this body."""

    code = serializers.CharField(help_text="A stable snake_case code, e.g. `no_seats`.")
    detail = serializers.CharField(help_text="A sentence a person can act on.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="For `invalid`: the messages for each field.",
    )

    class Meta:
        ref_name = "Error"


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "scheduling.api.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "`Authorization: Bearer rlt_…` (or `Token rlt_…`), from POST /api/v1/auth/token.",
        }


class RidealongSchema(AutoSchema):
    """Adds the error answers each operation can give, all with the one Error body."""

    def _error_statuses(self) -> list[str]:
        public = any(isinstance(p, AllowAny) for p in self.view.get_permissions())
        writes = self.method in ("POST", "PUT", "PATCH", "DELETE")
        statuses = ["400"] if writes or self.method == "GET" else []
        if not public:
            statuses += ["401", "403"]
        if "{" in self.path:
            statuses.append("404")
        if writes and not public:
            statuses.append("409")
        if self.method in ("POST", "PUT", "PATCH"):
            statuses.append("413")
        if getattr(self.view, "idempotent", False) and self.method == "POST":
            statuses.append("422")
        return [*statuses, "429", "503"]

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for status in self._error_statuses():
            if status not in responses:
                responses[status] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=ERROR_CODES[status]), status, direction=direction
                )
        return responses

    def _get_response_headers_for_code(self, status_code, direction="response"):
        headers = super()._get_response_headers_for_code(status_code, direction)
        if str(status_code) == "201":
            headers["Location"] = {"schema": {"type": "string"}, "description": "The new object's address."}
        if str(status_code) in ("429", "503"):
            headers["Retry-After"] = {"schema": {"type": "integer"}, "description": "Seconds to wait."}
        return headers
