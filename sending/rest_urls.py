"""ConsoleService.svc routes of messages, tags, templates, images, sendings and SMS, in lower case.

Relative to /api/v1.1/rest/consoleservice.svc/, after lists.rest_urls.
"""

from django.urls import path

from lists.rest_urls import IdConverter  # noqa: F401  (registers the "id" converter)
from mailup_sim.rest import endpoint
from sending import rest, rest_sms_queues, rest_smtp_plus

LIST_EMAIL = "console/list/<id:list_id>/email"
SENDINGS = "console/email/sendings"

urlpatterns = [
    # Messages
    path(LIST_EMAIL, endpoint(post=rest.create_message)),
    path(f"{LIST_EMAIL}/template/<id:template_id>", endpoint(post=rest.create_from_template)),
    path(
        f"{LIST_EMAIL}/<id:message_id>",
        endpoint(get=rest.read_message, post=rest.copy_message, put=rest.update_message, delete=rest.delete_message),
    ),
    path(f"{LIST_EMAIL}/<id:message_id>/enabledynamicfields/<str:flag>", endpoint(put=rest.enable_dynamic_fields)),
    path(f"{LIST_EMAIL}/<id:message_id>/online/visibility", endpoint(put=rest.online_visibility)),
    # Attachments. The slot takes any number, so that 0 or 6 get 400 naming the allowed range rather than 404.
    path(f"{LIST_EMAIL}/<id:message_id>/attachment", endpoint(get=rest.list_attachments)),
    path(
        f"{LIST_EMAIL}/<id:message_id>/attachment/<int:slot>",
        endpoint(post=rest.upload_attachment, delete=rest.delete_attachment),
    ),
    path("console/list/<id:list_id>/emails", endpoint(get=rest.list_messages)),
    path("console/list/<id:list_id>/online/emails", endpoint(get=rest.online_messages)),
    path("console/list/<id:list_id>/archived/emails", endpoint(get=rest.archived_messages)),
    path("console/user/emails", endpoint(get=rest.user_messages)),
    # Tags and templates
    path("console/list/<id:list_id>/tags", endpoint(get=rest.list_tags)),
    path("console/list/<id:list_id>/tag", endpoint(post=rest.create_tag)),
    path("console/list/<id:list_id>/tag/<id:tag_id>", endpoint(put=rest.update_tag, delete=rest.delete_tag)),
    path("console/list/<id:list_id>/templates", endpoint(get=rest.list_templates)),
    path("console/list/<id:list_id>/templates/<id:template_id>", endpoint(get=rest.read_template)),
    # Images
    path("console/images", endpoint(get=rest.list_images, post=rest.upload_image, delete=rest.delete_image)),
    path(
        "console/list/<id:list_id>/images",
        endpoint(get=rest.list_images, post=rest.upload_image, delete=rest.delete_image),
    ),
    # Sendings
    path(f"{LIST_EMAIL}/<id:message_id>/send", endpoint(post=rest.send_to_list)),
    path("console/group/<id:group_id>/email/<id:message_id>/send", endpoint(post=rest.send_to_group)),
    path("console/email/send", endpoint(post=rest.send_to_recipient)),
    path(f"{LIST_EMAIL}/<id:message_id>/sendhistory", endpoint(get=rest.send_history)),
    path(f"{SENDINGS}/immediate", endpoint(get=rest.sending_queue("immediate"))),
    path(f"{SENDINGS}/deferred", endpoint(get=rest.sending_queue("deferred"))),
    path(f"{SENDINGS}/undefined", endpoint(get=rest.sending_queue("undefined"))),
    path(f"{SENDINGS}/<id:sending_id>", endpoint(delete=rest.delete_sending)),
    path(f"{SENDINGS}/<id:sending_id>/immediate", endpoint(post=rest.start_now)),
    path(f"{SENDINGS}/<id:sending_id>/deferred", endpoint(get=rest.deferred, post=rest.deferred)),
    path(f"{SENDINGS}/<id:sending_id>/stop", endpoint(post=rest.stop)),
    # SMTP+ users
    path("console/smtppluspriorities", endpoint(get=rest_smtp_plus.smtp_plus_priorities)),
    path("console/list/<id:list_id>/smtpplus", endpoint(post=rest_smtp_plus.create_smtp_plus_user)),
    # SMS
    path("console/sms/list/<id:list_id>/message", endpoint(post=rest.create_sms)),
    path("console/sms/list/<id:list_id>/messages", endpoint(get=rest.list_sms)),
    path("console/sms/list/<id:list_id>/message/<id:message_id>", endpoint(get=rest.read_sms, put=rest.update_sms)),
    path("console/sms/list/<id:list_id>/message/<id:message_id>/send", endpoint(post=rest.send_sms_to_list)),
    path("console/sms/group/<id:group_id>/message/<id:message_id>/send", endpoint(post=rest.send_sms_to_group)),
    path("console/sms/send", endpoint(post=rest.send_sms_to_number)),
    path("console/sms/sendings/immediate", endpoint(get=rest_sms_queues.sms_sending_queue("immediate"))),
    path("console/sms/sendings/deferred", endpoint(get=rest_sms_queues.sms_sending_queue("deferred"))),
    path("console/sms/sendings/undefined", endpoint(get=rest_sms_queues.sms_sending_queue("undefined"))),
    path("console/sms/<id:message_id>/sendings/report", endpoint(get=rest.sms_report)),
    path("console/sms/<id:message_id>/sendings/reportdetails", endpoint(get=rest.sms_report_details)),
]
