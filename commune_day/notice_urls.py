from django.urls import path

from . import notice_views as views

app_name = "notices"
urlpatterns = [
    path("", views.NoticeIndexView.as_view(), name="index"),
    path("groups/<int:pk>/", views.group_notices, name="group"),
    path("groups/<int:pk>/pdf/", views.group_notices_pdf, name="group_pdf"),
    path("communes/<int:pk>/board/", views.commune_board, name="board"),
    path("communes/<int:pk>/board/pdf/", views.commune_board_pdf, name="board_pdf"),
]
