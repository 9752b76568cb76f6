from .selectors import offices_for


def office(request):
    """The offices the user works in, for the navigation bar."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    offices = list(offices_for(request.user)[:20])
    return {"user_offices": offices, "current_office": offices[0] if len(offices) == 1 else None}
