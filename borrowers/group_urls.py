from django.urls import path

from . import views

app_name = "groups"
urlpatterns = [
    path("", views.GroupListView.as_view(), name="list"),
    path("<int:pk>/", views.group_detail, name="detail"),
]
