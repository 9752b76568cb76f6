from django.urls import path

from . import history_views, views

app_name = "reports"
urlpatterns = [
    path("", views.index, name="index"),
    path("request/", views.run_request, name="request"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/figures/", views.dashboard_figures, name="dashboard_figures"),
    path("dashboard/chart/", views.dashboard_chart, name="dashboard_chart"),
    path("months/close/", views.month_close, name="month_close"),
    path("months/reopen/", views.month_reopen, name="month_reopen"),
    path(
        "households/<int:pk>/history/",
        history_views.household_history,
        name="household_history",
    ),
    path("audit/", history_views.AuditLogView.as_view(), name="audit"),
    path("households/<int:pk>/statement/", views.household_statement, name="statement"),
    path("households/<int:pk>/statement/pdf/", views.household_statement_pdf, name="statement_pdf"),
    path(
        "households/<int:pk>/statement/letter/",
        views.household_statement_letter,
        name="statement_letter",
    ),
    path("<int:pk>/", views.run_detail, name="detail"),
    path("<int:pk>/progress/", views.run_progress, name="progress"),
    path("<int:pk>/retry/", views.run_retry, name="retry"),
    path("<int:pk>/compare/", views.run_compare, name="compare"),
    path("<int:pk>/<str:fmt>/", views.run_download, name="download"),
]
