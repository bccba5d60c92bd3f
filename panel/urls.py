from django.contrib.auth import views as auth_views
from django.urls import path

from panel.forms import ConsoleLoginForm
from panel.views import dashboard

app_name = "panel"

urlpatterns = [
    path(
        "login",
        auth_views.LoginView.as_view(
            template_name="panel/login.html", authentication_form=ConsoleLoginForm, redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout", auth_views.LogoutView.as_view(), name="logout"),
    path("", dashboard.dashboard, name="dashboard"),
]
