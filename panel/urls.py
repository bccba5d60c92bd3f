from django.contrib.auth import views as auth_views
from django.urls import path

from panel.forms import ConsoleLoginForm
from panel.views import campaigns, dashboard, imports, inbox, lists, recipients, statistics

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
    path("messages", campaigns.message_index, name="message_index"),
    path("messages/new", campaigns.message_create, name="message_create"),
    path("messages/<int:message_id>", campaigns.message_detail, name="message_detail"),
    path("messages/<int:message_id>/edit", campaigns.message_edit, name="message_edit"),
    path("messages/<int:message_id>/count", campaigns.target_count, name="target_count"),
    path("messages/<int:message_id>/send", campaigns.message_send, name="message_send"),
    path("messages/<int:message_id>/test", campaigns.message_test_send, name="message_test_send"),
    path("sendings", campaigns.sending_index, name="sending_index"),
    path("sendings/<int:sending_id>", campaigns.sending_detail, name="sending_detail"),
    path("sendings/<int:sending_id>/action", campaigns.sending_action, name="sending_action"),
    path("sendings/<int:sending_id>/deliveries.csv", statistics.sending_csv, name="sending_csv"),
    path("lists/<int:list_id>/statistics", statistics.list_statistics, name="list_statistics"),
    path("lists/<int:list_id>/import", imports.import_upload, name="import_upload"),
    path("imports/<int:import_id>", imports.import_detail, name="import_detail"),
    path("imports/<int:import_id>/status", imports.import_status, name="import_status"),
    path("lists/<int:list_id>/statistics.csv", statistics.list_statistics_csv, name="list_statistics_csv"),
]
