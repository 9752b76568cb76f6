from borrowers.access import access_for
from branch_portal.roles import Role

from .models import ApprovalRequest, FourEyesPolicy


def approvals_waiting(request):
    """The navigation bar's count of pending requests the user may decide: of the offices where
    they hold the checker's role, not their own. One count query, for checkers only."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    access = access_for(request.user)
    pending = ApprovalRequest.objects.filter(status=ApprovalRequest.Status.PENDING).exclude(
        maker=request.user
    )
    if not access.is_superuser:
        managed = [pk for pk, role in access.roles.items() if role == Role.MANAGER]
        staff = [pk for pk, role in access.roles.items() if role == Role.STAFF]
        # Staff check only where the office's policy names staff as checkers.
        staff_checks = (
            list(
                FourEyesPolicy.objects.filter(
                    office_id__in=staff, checker_role="staff"
                ).values_list("office_id", flat=True)
            )
            if staff
            else []
        )
        offices = managed + staff_checks
        if not offices:
            return {}
        pending = pending.filter(office_id__in=offices)
    return {"approvals_waiting": pending.count()}
