from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("accounts/", include("django.contrib.auth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("borrowers/", include("borrowers.urls")),
    path("groups/", include("borrowers.group_urls")),
    path("loans/", include("loans.urls")),
    path("reports/", include("reports.urls")),
    path("savings/", include("savings.urls")),
    path("sessions/", include("commune_day.urls")),
    path("fees/", include("commune_day.fee_urls")),
    path("notices/", include("commune_day.notice_urls")),
    path("api/", include("api.urls")),
    path("", include("loans.home")),  # the home page reads loans and households
]

handler404 = "branch_portal.errors.page_not_found"
handler500 = "branch_portal.errors.server_error"
