"""The API tokens page (/api/tokens/): a user lists, makes and revokes their own tokens; an
administrator (superuser) those of every user. A new token is shown once, on the answer to the
form that made it, and never stored."""

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from borrowers.access import PortalRequest
from borrowers.forms import BootstrapMixin
from borrowers.selectors import groups_for_user

from . import services
from .models import ApiToken, Scope

PAGE_SIZE = 25


class TokenForm(BootstrapMixin, forms.Form):
    name = forms.CharField(label=gettext_lazy("Name (what uses it)"), max_length=100)
    scope = forms.ChoiceField(label=gettext_lazy("Scope"), choices=Scope.choices)
    group = forms.CharField(
        label=gettext_lazy("Group code (a group head's phone: that group only)"),
        max_length=20,
        required=False,
    )
    user = forms.CharField(
        label=gettext_lazy("For user (administrators)"), max_length=150, required=False
    )

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.actor = actor
        if not actor.is_superuser:
            del self.fields["user"]
            allowed = services.scopes_allowed(actor)
            self.fields["scope"].choices = [c for c in Scope.choices if c[0] in allowed]
        self.head = services.head_of(actor)
        if self.head is not None:
            # Every token of a group head's reaches their group: nothing to choose.
            del self.fields["group"]
            self.fields["scope"].initial = Scope.COLLECT

    def clean_group(self):
        code = self.cleaned_data.get("group", "").strip()
        if not code:
            return None
        groups = list(groups_for_user(self.actor).filter(code=code)[:2])
        if len(groups) != 1:
            raise ValidationError(
                _("No group %(c)s in your offices.") % {"c": code}
                if not groups
                else _("Group code %(c)s is in several of your offices.") % {"c": code}
            )
        return groups[0]

    def clean_user(self):
        name = self.cleaned_data.get("user", "").strip()
        if not name:
            return self.actor
        user = get_user_model().objects.filter(username=name).first()
        if user is None:
            raise ValidationError(_("No user named %(u)s.") % {"u": name[:150]})
        return user


def _tokens_for(user):
    tokens = ApiToken.objects.select_related("user", "revoked_by", "group", "household")
    return tokens if user.is_superuser else tokens.filter(user=user)


@login_required
def token_list(request: PortalRequest):
    new_token = None
    status = 200
    if request.method == "POST":
        form = TokenForm(request.POST, actor=request.user)
        if form.is_valid():
            try:
                row, new_token = services.token_create(
                    user=form.cleaned_data.get("user") or request.user,
                    name=form.cleaned_data["name"],
                    scope=form.cleaned_data["scope"],
                    actor=request.user,
                    group=form.cleaned_data.get("group"),
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
                status = 400
            else:
                form = TokenForm(actor=request.user)
        else:
            status = 400
    else:
        form = TokenForm(actor=request.user)
    # PostgreSQL refuses NUL in text: dropped, as the other lists' search forms refuse it.
    q = (request.GET.get("q") or "").replace("\x00", "").strip()[:100]
    tokens = _tokens_for(request.user)
    if q:
        tokens = tokens.filter(name__icontains=q) | tokens.filter(prefix__startswith=q)
    page = Paginator(tokens, PAGE_SIZE).get_page(request.GET.get("page"))
    response = render(
        request,
        "api/tokens.html",
        {"form": form, "page": page, "q": q, "new_token": new_token, "head": form.head},
        status=status,
    )
    # The one answer that shows a token is not kept by the browser or a proxy.
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def token_revoke(request: PortalRequest, pk: int):
    token = _tokens_for(request.user).filter(pk=pk).first()
    if token is None:
        raise Http404
    try:
        services.token_revoke(token=token, actor=request.user)
    except PermissionDenied:
        raise Http404 from None
    messages.success(request, _("Token %(p)s… revoked.") % {"p": token.prefix})
    return redirect("api:tokens")
