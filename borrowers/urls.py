
app_name = "borrowers"
urlpatterns: list = []
