from django.urls import path

from . import views

app_name = "savings"
urlpatterns = [
    path("<int:household_pk>/", views.savings_ledger, name="ledger"),
    *[
        path(f"<int:household_pk>/{slug}/", views.savings_posting, {"op": slug}, name=slug)
        for slug in views.POSTINGS
    ],
    path("loan/<int:pk>/pay/", views.savings_pay_loan, name="pay_loan"),
]
