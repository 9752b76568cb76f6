"""The group heads' logins (/api/group-heads/): staff make a login for a group's head, whose API
tokens (made on the tokens page once logged in, or by staff with create_api_token) reach that
group only; a head replaced is deactivated, which refuses their tokens at once."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from borrowers.access import PortalRequest
from borrowers.forms import BootstrapMixin
from borrowers.selectors import can_write, groups_for_user, office_ids_for, offices_for

from . import services
from .models import GroupHead

PAGE_SIZE = 25


class GroupHeadForm(BootstrapMixin, forms.Form):
    group = forms.CharField(label=gettext_lazy("Group code"), max_length=20)
    full_name = forms.CharField(label=gettext_lazy("Group head's name"), max_length=150)
    username = forms.CharField(label=gettext_lazy("User name"), max_length=150)
    password = forms.CharField(
        label=gettext_lazy("Password"), widget=forms.PasswordInput(render_value=False)
    )

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.actor = actor

    def clean_group(self):
        code = self.cleaned_data["group"].strip()
        groups = [g for g in groups_for_user(self.actor).filter(code=code).select_related("office")
                  if can_write(self.actor, g.office)]  # fmt: skip
        if len(groups) != 1:
            raise ValidationError(
                _("No group %(c)s in the offices where you may register people.") % {"c": code}
                if not groups
                else _("Group code %(c)s is in several of your offices.") % {"c": code}
            )
        return groups[0]


def _heads_for(user):
    return GroupHead.objects.filter(group__office_id__in=office_ids_for(user)).select_related(
        "user", "group__office", "created_by"
    )


@login_required
def group_heads(request: PortalRequest):
    status = 200
    form = GroupHeadForm(actor=request.user)
    if request.method == "POST":
        form = GroupHeadForm(request.POST, actor=request.user)
        if form.is_valid():
            try:
                head = services.group_head_create(
                    group=form.cleaned_data["group"],
                    username=form.cleaned_data["username"],
                    full_name=form.cleaned_data["full_name"],
                    password=form.cleaned_data["password"],
                    actor=request.user,
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
                status = 400
            else:
                messages.success(
                    request,
                    _("%(u)s can now log in and make a token for group %(g)s.")
                    % {"u": head.user.username, "g": head.group.code},
                )
                return redirect("api:group-heads")
        else:
            status = 400
    q = (request.GET.get("q") or "").replace("\x00", "").strip()[:100]
    heads = _heads_for(request.user)
    if q:
        heads = heads.filter(
            Q(user__username__icontains=q) | Q(user__first_name__icontains=q)
            | Q(group__code__icontains=q)
        )  # fmt: skip
    page = Paginator(heads, PAGE_SIZE).get_page(request.GET.get("page"))
    may_register = any(can_write(request.user, office) for office in offices_for(request.user))
    return render(
        request,
        "api/group_heads.html",
        {"form": form, "page": page, "q": q, "may_register": may_register},
        status=status,
    )


@login_required
@require_POST
def group_head_deactivate(request: PortalRequest, pk: int):
    head = _heads_for(request.user).filter(pk=pk).first()
    if head is None:
        raise Http404
    services.group_head_deactivate(head=head, actor=request.user)  # an auditor: 403
    messages.success(request, _("%(u)s's login and tokens are ended.") % {"u": head.user.username})
    return redirect("api:group-heads")
