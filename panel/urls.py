from django.contrib.auth import views as auth_views
from django.urls import path

from panel.forms import ConsoleLoginForm
from panel.views import dashboard, inbox, lists, recipients

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
    path("lists", lists.list_index, name="list_index"),
    path("lists/new", lists.list_create, name="list_create"),
    path("lists/<int:list_id>", lists.list_detail, name="list_detail"),
    path("lists/<int:list_id>/edit", lists.list_edit, name="list_edit"),
    path("lists/<int:list_id>/delete", lists.list_delete, name="list_delete"),
    path("lists/<int:list_id>/groups/new", lists.group_create, name="group_create"),
    path("groups/<int:group_id>/edit", lists.group_edit, name="group_edit"),
    path("groups/<int:group_id>/delete", lists.group_delete, name="group_delete"),
    path("lists/<int:list_id>/recipients", recipients.recipient_index, name="recipient_index"),
    path("lists/<int:list_id>/recipients/add", recipients.recipient_add, name="recipient_add"),
    path("recipients/<int:recipient_id>", recipients.recipient_detail, name="recipient_detail"),
    path("recipients/<int:recipient_id>/change", recipients.recipient_change, name="recipient_change"),
    path("inbox", inbox.inbox_index, name="inbox_index"),
    path("inbox/<int:message_id>", inbox.inbox_detail, name="inbox_detail"),
    path("inbox/<int:message_id>/raw", inbox.inbox_raw, name="inbox_raw"),
    path("inbox/reset", inbox.reset_test_data, name="reset_test_data"),
    path("webhooks/log", inbox.webhook_log, name="webhook_log"),
]
