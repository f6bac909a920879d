"""What drf-spectacular needs to know of our own classes to describe them in the OpenAPI document."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "billing.api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "Klinikens API-nyckel från Klinikadministration: Authorization: Bearer <nyckel>. / "
                "The clinic's API key from Klinikadministration: Authorization: Bearer <key>."
            ),
        }
