"""A rate limit per token (settings.API_RATE_LIMIT, e.g. "600/min"), counted in the shared cache
(Redis when REDIS_URL is set), so every server process counts the same token together."""

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from .models import ApiToken


class TokenRateThrottle(SimpleRateThrottle):
    scope = "token"

    def get_rate(self):
        # Read at each request, not at import: an operator (or a test) changes it in settings.
        return settings.API_RATE_LIMIT

    def allow_request(self, request, view):
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        token = request.auth
        if isinstance(token, ApiToken):
            # The digest, not the id: unique across databases sharing one Redis.
            return self.cache_format % {"scope": self.scope, "ident": token.digest[:32]}
        return self.cache_format % {"scope": "anon", "ident": self.get_ident(request)}
