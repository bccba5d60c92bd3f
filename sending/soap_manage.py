"""MailupManage (`/MailupManage.asmx`): list and group administration over SOAP.

Option keys of CreateList and UpdateList are a mailup-sim choice, because
MailUp does not publish them: `name` (UpdateList only), `description`,
`from_name`, `from_email`, `reply_to` and `language` (it or en).
`defaultSettings` of CreateList is the id of a list whose sender,
language and opt-in settings the new list copies (empty: the account's
first list), and `copyTemplate` also copies its confirmation, welcome and
unsubscribe texts.
"""

from lists import services as lists_services
from mailup_sim import soap
from sending.soap_common import (
    NAMESPACE,
    account_of,
    add_session_operations,
    coded_result,
    invalid,
    list_of,
    operation,
)
from sending.soap_send import get_groups, get_lists

MANAGE = soap.Service("MailupManage", NAMESPACE, "/MailupManage.asmx", aliases=["/Services/MailupManage.asmx"])
add_session_operations(MANAGE)

# Option key of CreateList/UpdateList → list setting of lists.services.
LIST_OPTION_SETTINGS = {
    "name": "name",
    "description": "description",
    "from_name": "sender_name",
    "from_email": "sender_email",
    "reply_to": "reply_to",
    "language": "language",
}

operation(MANAGE, "GetLists", soap.string("accessKey"))(get_lists)
operation(MANAGE, "GetGroups", soap.string("accessKey"), soap.integer("listID"))(get_groups)


@operation(MANAGE, "CreateGroup", soap.string("accessKey"), soap.integer("listID"), soap.string("groupName"), soap.string("groupNotes"))
def create_group(call, access_key, list_id, group_name, group_notes):
    group = lists_services.create_group(list_of(access_key, list_id), group_name, group_notes)
    return coded_result("CreateGroupResult", soap.text_element("groupID", group.pk))


@operation(MANAGE, "UpdateGroup", soap.string("accessKey"), soap.integer("groupID"), soap.options("options"))
def update_group(call, access_key, group_id, options):
    unknown = set(options) - {"groupname", "groupnotes"}
    if unknown:
        raise invalid(f"Unknown option {sorted(unknown)[0]!r}; UpdateGroup takes groupName and groupNotes.")
    group = lists_services.find_group(account_of(access_key), group_id)
    lists_services.update_group(group, name=options.get("groupname"), notes=options.get("groupnotes"))
    return coded_result("UpdateGroupResult", soap.text_element("groupID", group.pk))


@operation(
    MANAGE,
    "DeleteGroup",
    soap.string("accessKey"),
    soap.integer("listID"),
    soap.integer("groupID"),
    soap.boolean("deleteUsers"),
)
def delete_group(call, access_key, list_id, group_id, delete_users):
    mailing_list = list_of(access_key, list_id)
    group = lists_services.find_group(mailing_list.account, group_id, mailing_list)
    lists_services.delete_group(group, delete_members=delete_users)
    return coded_result("DeleteGroupResult", soap.text_element("groupID", group_id))


def list_settings(options, allowed):
    """Map CreateList/UpdateList options to list settings; raises ResultError for an unknown key."""
    values = {}
    for key, value in options.items():
        if key not in allowed:
            raise invalid(f"Unknown option {key!r}; use one of {', '.join(sorted(allowed))}.")
        values[LIST_OPTION_SETTINGS[key]] = value
    return values


@operation(
    MANAGE,
    "CreateList",
    soap.string("accessKey"),
    soap.string("name"),
    soap.string("defaultSettings"),
    soap.boolean("copyTemplate"),
    soap.options("options"),
)
def create_list(call, access_key, name, default_settings, copy_template, options):
    account = account_of(access_key)
    model = None
    if default_settings.strip():
        if not (default_settings.strip().isascii() and default_settings.strip().isdigit()) or len(default_settings.strip()) > 10:
            raise invalid(f"Parameter 'defaultSettings' must be a list id; got {default_settings[:40]!r}.")
        model = lists_services.find_list(account, int(default_settings.strip()))
    allowed = set(LIST_OPTION_SETTINGS) - {"name"}
    created = lists_services.create_list_like(
        account, name, settings_from=model, copy_texts=copy_template, values=list_settings(options, allowed)
    )
    return coded_result(
        "CreateListResult",
        soap.text_element("listID", created.list_id),
        soap.text_element("listGUID", created.guid),
    )


@operation(MANAGE, "UpdateList", soap.string("accessKey"), soap.integer("listID"), soap.options("options"))
def update_list(call, access_key, list_id, options):
    mailing_list = list_of(access_key, list_id)
    lists_services.update_list_settings(mailing_list, list_settings(options, set(LIST_OPTION_SETTINGS)))
    return coded_result("UpdateListResult", soap.text_element("listID", mailing_list.list_id))


@operation(MANAGE, "DeleteList", soap.string("accessKey"), soap.integer("listID"))
def delete_list(call, access_key, list_id):
    lists_services.delete_list(list_of(access_key, list_id))
    return coded_result("DeleteListResult", soap.text_element("listID", list_id))


# GetIdUser and GetListsUser, as on MailupSend. sending.soap_account cannot import MANAGE itself,
# because importing this module imports soap_send, which imports soap_account before MANAGE exists.
from sending.soap_account import add_user_operations  # noqa: E402

add_user_operations(MANAGE)
