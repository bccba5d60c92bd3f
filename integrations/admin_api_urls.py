"""Routes of the admin API, relative to /sim/api/v1/."""

from django.urls import path

from integrations import admin_api as api
from mailup_sim.rest import endpoint

urlpatterns = [
    path("webhooks", endpoint(get=api.list_webhooks, post=api.create_webhook)),
    path("webhooks/deliveries", endpoint(get=api.list_deliveries)),
    path("webhooks/deliveries/<int:delivery_id>", endpoint(get=api.get_delivery)),
    path("webhooks/deliveries/<int:delivery_id>/replay", endpoint(post=api.replay_delivery)),
    path(
        "webhooks/<int:webhook_id>",
        endpoint(get=api.get_webhook, put=api.update_webhook, delete=api.delete_webhook),
    ),
    path("post-operations", endpoint(get=api.list_post_operations, post=api.create_post_operation)),
    path("post-operations/runs", endpoint(get=api.list_post_operation_runs)),
    path(
        "post-operations/<int:post_operation_id>",
        endpoint(get=api.get_post_operation, put=api.update_post_operation, delete=api.delete_post_operation),
    ),
    path("lists/<int:list_id>/unsubscriber-export", endpoint(post=api.export_unsubscribers)),
]
