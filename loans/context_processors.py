from borrowers.access import access_for
from branch_portal.roles import Role

from .models import ApprovalRequest

# The nav shows up to this many; beyond, "99+".
NAV_COUNT_LIMIT = 99


def approvals_waiting(request):
    """The navigation bar's count of pending requests a manager may decide (of the offices they
    manage, not their own): one query of at most NAV_COUNT_LIMIT + 1 ids, no COUNT over the
    table, and none for a user who manages no office. (Staff named checkers by a policy find
    the requests in the queue; the bar's budget of queries is the lists'.)"""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    access = access_for(request.user)
    pending = ApprovalRequest.objects.filter(status=ApprovalRequest.Status.PENDING).exclude(
        maker=request.user
    )
    if not access.is_superuser:
        managed = [pk for pk, role in access.roles.items() if role == Role.MANAGER]
        if not managed:
            return {}
        pending = pending.filter(office_id__in=managed)
    found = len(pending.values_list("pk", flat=True)[: NAV_COUNT_LIMIT + 1])
    return {"approvals_waiting": f"{NAV_COUNT_LIMIT}+" if found > NAV_COUNT_LIMIT else found}
