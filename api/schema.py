"""The schema's error answers: every operation documents what it can answer besides success,
so a client (and schemathesis) knows a 400, 401, 403, 404, 414 or 429 is part of the contract."""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


COMMON = {
    "401": _error("No token, or a token that is unknown or revoked."),
    "403": _error("The token's scope does not allow this request."),
    "429": _error("The token's rate limit is reached; retry after the Retry-After header."),
}
NOT_FOUND = _error("No such object in the token's offices (another office's id is a 404 too).")
LIST_NOT_FOUND = _error("The cursor is not one this list gave.")
OFFICE_NOT_FOUND = _error("No office of that code among the token's offices.")
BAD_REQUEST = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description="A parameter or field that does not parse: its name and the messages.",
)
# The server refuses a request line over 4 KB before Django sees it (gunicorn's limit).
TOO_LONG = OpenApiResponse(description="The request line is too long.")


class PortalAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        extra = dict(COMMON)
        is_list = self._is_list_view()
        # A list's filters and cursor, a body, or a GET's own parameters (the statement's date,
        # the journal's office and day, the feed's position) can each be refused.
        if is_list or self.method != "GET" or self.get_override_parameters():
            extra["400"] = BAD_REQUEST
        if "{" in self.path or is_list:
            extra["404"] = NOT_FOUND if "{" in self.path else LIST_NOT_FOUND
        extra["414"] = TOO_LONG
        for code, response in extra.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(response, code, direction=direction)
        return responses
