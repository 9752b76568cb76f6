from django.urls import path

from . import views

app_name = "loans"
urlpatterns = [
    path("", views.LoanListView.as_view(), name="list"),
    path("apply/<int:household_pk>/", views.loan_apply, name="apply"),
    path("<int:pk>/", views.loan_detail, name="detail"),
    path("<int:pk>/approve/", views.loan_approve, name="approve"),
    path("<int:pk>/reject/", views.loan_reject, name="reject"),
    path("entries/<int:pk>/reverse/", views.entry_reverse, name="reverse"),
    path("approvals/", views.ApprovalListView.as_view(), name="approvals"),
    path("approvals/<int:pk>/", views.approval_detail, name="approval"),
    path("approvals/<int:pk>/approve/", views.approval_approve, name="approval_approve"),
    path("approvals/<int:pk>/reject/", views.approval_reject, name="approval_reject"),
    path("approvals/<int:pk>/withdraw/", views.approval_withdraw, name="approval_withdraw"),
    path("office/<str:code>/business-date/", views.business_date, name="business_date"),
    *[
        path(f"<int:pk>/{slug}/", views.loan_operation, {"op": slug}, name=slug)
        for slug in views.OPERATIONS
    ],
]
