from django.urls import path

from . import fee_views

app_name = "fees"
urlpatterns = [
    path("", fee_views.statement, name="statement"),
    path("pdf/", fee_views.statement_pdf, name="pdf"),
    path("xlsx/", fee_views.statement_xlsx, name="xlsx"),
    path("rates/", fee_views.rates, name="rates"),
    path("rates/<str:kind>/add/", fee_views.rate_add, name="rate_add"),
    path("sessions/<int:pk>/", fee_views.session_pay, name="session_pay"),
]
