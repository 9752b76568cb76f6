"""Form helpers shared by the apps."""

from django import forms
from django.utils.translation import gettext_noop

# Django renders each <option> through its own template include: ~150 µs an option, 30 ms for
# the commune select of a province office on every list page. This one writes the options
# inline (the same markup, without per-option attributes, which no filter uses).
FAST_SELECT_TEMPLATE = "widgets/select.html"


def style_filter_form(form: forms.Form) -> None:
    """Bootstrap's small controls, and the inline select template, on a list's filter form."""
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, forms.Select) and not isinstance(widget, forms.SelectMultiple):
            widget.attrs["class"] = "form-select form-select-sm"
            widget.template_name = FAST_SELECT_TEMPLATE
        else:
            widget.attrs["class"] = "form-control form-control-sm"


# Django's own messages for a number out of bounds or not whole, listed here so the portal's
# catalogue words them: Django's Vietnamese has a stray space before the full stop ("10000 .")
# and calls a whole number "số tổng thể". Ours come first (LOCALE_PATHS).
DJANGO_MESSAGES_WORDED_BY_THE_PORTAL = (
    gettext_noop("Ensure this value is less than or equal to %(limit_value)s."),
    gettext_noop("Ensure this value is greater than or equal to %(limit_value)s."),
    gettext_noop("Enter a whole number."),
)
