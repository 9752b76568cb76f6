from django.urls import path

from . import views

app_name = "borrowers"
urlpatterns = [
    path("", views.HouseholdListView.as_view(), name="list"),
    path("new/", views.household_create, name="create"),
    path("<int:pk>/", views.household_detail, name="detail"),
    path("<int:pk>/edit/", views.household_edit, name="edit"),
    path("<int:pk>/citizen-id/", views.household_change_citizen_id, name="change_id"),
    path("<int:pk>/category/", views.household_certify_category, name="certify"),
]
