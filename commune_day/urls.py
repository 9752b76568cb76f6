from django.urls import path

from . import posting_views

app_name = "sessions"
urlpatterns: list = [
    # The day's postings (commune_day.posting): a group's sheet and its disbursements in bulk.
    path(
        "<int:pk>/groups/<int:group_pk>/enter/",
        posting_views.enter_collection_sheet,
        name="enter_sheet",
    ),
    path("<int:pk>/groups/<int:group_pk>/disburse/", posting_views.disburse_group, name="disburse"),
    path("<int:pk>/disbursements/", posting_views.session_disbursements, name="disbursements"),
]
