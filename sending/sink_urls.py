from django.urls import path

from sending import sink_api

urlpatterns = [
    path("messages", sink_api.MessageListView.as_view()),
    path("messages/<int:message_id>", sink_api.MessageDetailView.as_view()),
    path("messages/<int:message_id>/raw", sink_api.raw_message),
]
