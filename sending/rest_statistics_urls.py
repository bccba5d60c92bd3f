"""Routes of MailStatisticsService.svc, relative to /api/v1.1/rest/mailstatisticsservice.svc/ and in lower case."""

from django.urls import path

from lists.rest_urls import IdConverter  # noqa: F401  (registers the "id" converter)
from mailup_sim.rest import endpoint
from sending import rest_statistics as views

urlpatterns = [
    *[
        path(f"message/<id:message_id>/count/{kind}", endpoint(get=views.message_count(kind)))
        for kind in sorted(views.MESSAGE_COUNTS)
    ],
    *[
        path(f"message/<id:message_id>/list/{kind}", endpoint(get=views.message_list(kind)))
        for kind in sorted(views.MESSAGE_ROWS)
    ],
    *[
        path(f"recipient/<id:recipient_id>/count/{kind}", endpoint(get=views.recipient_count(kind)))
        for kind in sorted(views.RECIPIENT_COUNTS)
    ],
    *[
        path(f"recipient/<id:recipient_id>/list/{kind}", endpoint(get=views.recipient_list(kind)))
        for kind in sorted(views.RECIPIENT_ROWS)
    ],
]
