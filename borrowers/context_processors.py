from branch_portal.roles import Role

from .access import access_for

# The roles the navigation bar shows the Reports link to (staff reach the page by its URL).
REPORT_READERS = frozenset({Role.MANAGER, Role.AUDITOR})


def office(request):
    """The offices the user works in, and whether the Reports link shows, for the navigation bar:
    from the request's Access, so drawing the bar reads no membership."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    access = access_for(request.user)
    offices = list(access.offices()[:20])
    return {
        "user_offices": offices,
        "current_office": offices[0] if len(offices) == 1 else None,
        "nav_reports": bool(access.roles_held & REPORT_READERS),
    }
