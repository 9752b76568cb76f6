from django.urls import path

from . import posting_views, views

app_name = "sessions"
urlpatterns = [
    path("", views.SessionListView.as_view(), name="list"),
    path("open/", views.session_open_view, name="open"),
    path("<int:pk>/", views.session_detail, name="detail"),
    path("<int:pk>/team/", views.session_team, name="team"),
    path("<int:pk>/groups/<int:group_pk>/", views.sheet_detail, name="sheet"),
    path("<int:pk>/groups/<int:group_pk>/pdf/", views.sheet_pdf, name="sheet_pdf"),
    path("<int:pk>/sheets/", views.sheets_print, name="print"),
    path("<int:pk>/sheets/<int:run_pk>/", views.print_detail, name="print_detail"),
    path("<int:pk>/sheets/<int:run_pk>/progress/", views.print_progress, name="print_progress"),
    path("<int:pk>/sheets/<int:run_pk>/pdf/", views.print_download, name="print_download"),
    path("<int:pk>/close/", views.session_close_view, name="close"),
    path("<int:pk>/countersign/", views.session_countersign_view, name="countersign"),
    # The day's postings (commune_day.posting): a group's sheet and its disbursements in bulk.
    path(
        "<int:pk>/groups/<int:group_pk>/enter/",
        posting_views.enter_collection_sheet,
        name="enter_sheet",
    ),
    path("<int:pk>/groups/<int:group_pk>/disburse/", posting_views.disburse_group, name="disburse"),
    path("<int:pk>/disbursements/", posting_views.session_disbursements, name="disbursements"),
    path(
        "<int:pk>/groups/<int:group_pk>/custody/",
        posting_views.confirm_custody,
        name="confirm_custody",
    ),
]
