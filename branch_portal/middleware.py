"""Project middleware."""


class VietnameseByDefaultMiddleware:
    """The portal speaks Vietnamese unless the user picks English with the VI/EN switch (the
    language cookie). The browser's Accept-Language is not a choice: office PCs often run an
    English browser, and the bank's forms and reports are in Vietnamese."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.META.pop("HTTP_ACCEPT_LANGUAGE", None)
        return self.get_response(request)
