"""Kept so branch_portal.urls need not change: the home page lives in branch_portal.views."""

from .views import urlpatterns  # noqa: F401
