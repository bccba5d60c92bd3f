"""Routes of ConsoleService.svc, relative to /api/v1.1/rest/consoleservice.svc/ and in lower case."""

from django.urls import path, register_converter

from integrations import rest as import_rest
from lists import rest
from lists.models import Subscription
from lists.validation import MAX_ID
from mailup_sim.rest import endpoint


class IdConverter:
    """A positive id that fits the database's 32-bit columns; anything else is no route (404)."""

    regex = "[0-9]{1,10}"

    def to_python(self, value):
        number = int(value)
        if not 1 <= number <= MAX_ID:
            raise ValueError(f"{value} is not a valid id")
        return number

    def to_url(self, value):
        return str(value)


register_converter(IdConverter, "id")

Status = Subscription.Status

urlpatterns = [
    path("console/authentication/info", endpoint(get=rest.authentication_info)),
    path("console/authentication/details", endpoint(get=rest.authentication_details)),
    path("console/list/countries", endpoint(get=rest.countries)),
    path("console/timezones", endpoint(get=rest.time_zones)),
    path("console/list", endpoint(get=rest.console_lists, post=rest.create_list)),
    path("console/user/lists", endpoint(get=rest.user_lists, post=rest.create_list)),
    path("console/list/<id:list_id>", endpoint(put=rest.update_list, delete=rest.delete_list)),
    path("console/user/list/<id:list_id>", endpoint(put=rest.update_list)),
    path("console/list/<id:list_id>/groups", endpoint(get=rest.list_groups)),
    path("console/list/<id:list_id>/group", endpoint(post=rest.create_group)),
    path(
        "console/list/<id:list_id>/group/<id:group_id>",
        endpoint(put=rest.update_group, delete=rest.delete_group),
    ),
    path("console/recipient/dynamicfields", endpoint(get=rest.dynamic_fields)),
    path("console/list/<id:list_id>/recipient", endpoint(post=rest.add_list_recipient)),
    path("console/group/<id:group_id>/recipient", endpoint(post=rest.add_group_recipient)),
    path("console/list/<id:list_id>/recipients/subscribed", endpoint(get=rest.recipients_by_status(Status.SUBSCRIBED))),
    path(
        "console/list/<id:list_id>/recipients/unsubscribed",
        endpoint(get=rest.recipients_by_status(Status.UNSUBSCRIBED)),
    ),
    path("console/list/<id:list_id>/recipients/pending", endpoint(get=rest.recipients_by_status(Status.PENDING))),
    path("console/list/<id:list_id>/recipients/emailoptins", endpoint(get=rest.email_optins)),
    path(
        "console/group/<id:group_id>/recipients",
        endpoint(get=rest.group_recipients, post=import_rest.import_group_recipients),
    ),
    path("console/list/<id:list_id>/recipients", endpoint(post=import_rest.import_list_recipients)),
    path("console/sms/list/<id:list_id>/recipients", endpoint(post=import_rest.import_sms_list_recipients)),
    path("console/sms/group/<id:group_id>/recipients", endpoint(post=import_rest.import_sms_group_recipients)),
    path("console/import/<id:import_id>", endpoint(get=import_rest.import_status)),
    path("console/import/<id:import_id>/sending", endpoint(get=import_rest.import_sending)),
    path("console/imports", endpoint(get=import_rest.imports)),
    path("console/recipient/detail", endpoint(put=rest.update_recipient_detail)),
    path("console/list/<id:list_id>/unsubscribe/<id:recipient_id>", endpoint(delete=rest.unsubscribe_from_list)),
    path("console/group/<id:group_id>/unsubscribe/<id:recipient_id>", endpoint(delete=rest.unsubscribe_from_group)),
    path("console/list/<id:list_id>/recipient/<id:recipient_id>", endpoint(delete=rest.remove_from_list)),
    path("console/recipients/<id:recipient_id>", endpoint(delete=rest.remove_from_all_lists)),
    path("console/list/<id:list_id>/subscribe/<id:recipient_id>", endpoint(post=rest.force_subscribe)),
    path("console/group/<id:group_id>/subscribe/<id:recipient_id>", endpoint(post=rest.add_to_group)),
    path("console/list/<id:list_id>/recipient/<id:recipient_id>/groups", endpoint(get=rest.recipient_groups)),
]
