from django.urls import path

from integrations import sink_api as webhook_sink_api
from sending import sink_api

urlpatterns = [
    path("messages", sink_api.MessageListView.as_view()),
    path("messages/<int:message_id>", sink_api.MessageDetailView.as_view()),
    path("messages/<int:message_id>/raw", sink_api.raw_message),
    path("webhooks", webhook_sink_api.WebhookDeliveryListView.as_view()),
]
