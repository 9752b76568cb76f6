"""A group head's login shows no office page (docs/decisions/0019-api.md): any page but the API,
the tokens page, the login and the language switch sends them to their tokens."""

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.shortcuts import redirect

from .models import GroupHead

# Where the session notes the login is a group head's (read once, at login: no query a request).
SESSION_KEY = "group_head_group"
# What a group head may open: the API and its pages, logging in and out, the language switch.
OPEN_TO_HEADS = ("/api/", "/accounts/", "/i18n/", "/static/")


@receiver(user_logged_in)
def _note_group_head(sender, request, user, **kwargs):
    head = GroupHead.objects.filter(user=user).select_related("group").first()
    if request is not None and head is not None:
        request.session[SESSION_KEY] = head.group.code


class GroupHeadPagesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        if (
            session is not None
            and session.get(SESSION_KEY)
            and request.user.is_authenticated
            and not request.path.startswith(OPEN_TO_HEADS)
        ):
            return redirect("api:tokens")
        return self.get_response(request)
