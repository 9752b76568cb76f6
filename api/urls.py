from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)
from rest_framework.routers import DefaultRouter

from . import group_head_views, group_views, journal_views, outbox_views, token_views, views

app_name = "api"

# No format-suffix twins (`.json`): one pattern per name, as the scoping tests walk them.
router = DefaultRouter(use_regex_path=True)
router.include_format_suffixes = False
router.register("borrowers", views.HouseholdViewSet, basename="borrower")
router.register("loans", views.LoanViewSet, basename="loan")
router.register("entries", views.EntryViewSet, basename="entry")
router.register("report-runs", views.ReportRunViewSet, basename="report-run")
router.register("groups", group_views.GroupViewSet, basename="group")

urlpatterns = [
    # /api/ itself: the documentation, where a newcomer starts.
    path("", RedirectView.as_view(pattern_name="api:docs"), name="index"),
    path("v1/schema/", SpectacularAPIView.as_view(api_version="v1"), name="schema"),
    path("v1/docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path("v1/redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
    path("v1/outbox/", outbox_views.OutboxView.as_view(), name="outbox"),
    path("v1/journal/", journal_views.JournalView.as_view(), name="journal"),
    path("v1/journal/csv/", journal_views.JournalFileView.as_view(), name="journal-csv"),
    path("v1/", include(router.urls)),
    path("tokens/", token_views.token_list, name="tokens"),
    path("tokens/<int:pk>/revoke/", token_views.token_revoke, name="token-revoke"),
    path("group-heads/", group_head_views.group_heads, name="group-heads"),
    path(
        "group-heads/<int:pk>/deactivate/",
        group_head_views.group_head_deactivate,
        name="group-head-deactivate",
    ),
]
