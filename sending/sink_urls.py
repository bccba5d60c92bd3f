from django.urls import path, re_path

from integrations import sink_api as integration_sink_api
from sending import isp_api, sink_api, sink_api_base

urlpatterns = [
    path("messages", sink_api.MessageListView.as_view()),
    path("messages/<int:message_id>", sink_api.MessageDetailView.as_view()),
    path("messages/<int:message_id>/raw", sink_api.raw_message),
    path("sms", sink_api.SmsListView.as_view()),
    path("webhooks", integration_sink_api.WebhookDeliveryListView.as_view()),
    path("ftp", integration_sink_api.FtpTransferListView.as_view()),
    path("rules", isp_api.RuleListView.as_view()),
    path("rules/<int:rule_id>", isp_api.RuleDetailView.as_view()),
    path("inbound", isp_api.InboundListView.as_view()),
    path("inbound/<int:inbound_id>", isp_api.InboundDetailView.as_view()),
    # Any other path under /sink/api/ gets a JSON 404, not Django's HTML page.
    re_path(r"^.*$", sink_api_base.not_found),
]
