"""MailupSend operations on the account, its lists and its messages.

They are GetIdUser, GetListsUser, GetCredits, GetCreditsLists,
GetUserAccess, CheckUserHash, GetTemplates, GetMessages, CloneMessage,
GetListIdentity and GetListIdentity_st.

GetIdUser and GetListsUser are registered on MailupManage as well, by
add_user_operations, which sending.soap_manage calls once MANAGE exists.

Choices of mailup-sim where MailUp publishes nothing:

- A user id is the console id for the web-service user `a<id>` and the
  user's own id for a control-panel user, as WSMailUpImport's GetIdUser
  returns it. GetListsUser returns every list for a user of the account and
  no list for any other id.
- GetUserAccess returns an HMAC-SHA256 of the console id and the user id,
  keyed with SECRET_KEY: a hash of one account's user is never valid for
  another account or user, and it does not expire.
- Credits are always 0, because mailup-sim sells nothing.
- CloneMessage copies a message of the list named by `listId` and/or
  `listGuid` into the same list and returns the copy's id, or a negative
  error code from the table in docs/soap.md.
"""

import logging

from django.db import transaction

from lists import services as lists_services
from lists.errors import ListsError
from mailup_sim import soap
from sending import services
from sending.models import Template
from sending.soap_common import (
    ERROR_ACCESS_KEY,
    ResultError,
    account_of,
    code_and_description,
    coded_result,
    invalid,
    list_by_id_or_guid,
    list_of,
    operation,
)
from sending.soap_send import SEND, format_date, lists_result, one_line_subject

logger = logging.getLogger(__name__)


# --- Users -----------------------------------------------------------------------


def add_user_operations(service):
    """Register GetIdUser and GetListsUser on `service` (MailupSend and MailupManage serve both)."""

    @operation(service, "GetIdUser", soap.string("accessKey"))
    def get_id_user(call, access_key):
        user_id = lists_services.user_id_for_access_key(access_key)
        if user_id is None:
            raise ResultError(ERROR_ACCESS_KEY, "The user who opened this accessKey no longer exists; log in again.")
        return coded_result("GetIdUserResult", soap.text_element("idUser", user_id))

    @operation(service, "GetListsUser", soap.string("accessKey"), soap.integer("idUser"))
    def get_lists_user(call, access_key, id_user):
        account = account_of(access_key)
        if lists_services.is_account_user(account, id_user):
            return lists_result("GetListsUserResult", account)
        return coded_result("GetListsUserResult", soap.result_element("lists"))


add_user_operations(SEND)


@operation(SEND, "GetUserAccess", soap.integer("userId"), soap.string("accessKey"))
def get_user_access(call, user_id, access_key):
    account = account_of(access_key)
    if not lists_services.is_account_user(account, user_id):
        raise invalid(f"Parameter 'userId': {user_id} is not a user of console {account.console_id}; GetIdUser returns a valid id.")
    return coded_result(
        "GetUserAccessResult",
        soap.text_element("userID", user_id),
        soap.text_element("userHash", lists_services.make_user_hash(account, user_id)),
    )


@operation(SEND, "CheckUserHash", soap.integer("userID"), soap.string("userHash"), soap.string("accessKey"))
def check_user_hash(call, user_id, user_hash, access_key):
    account = account_of(access_key)
    valid = lists_services.is_account_user(account, user_id) and lists_services.check_user_hash(account, user_id, user_hash)
    return coded_result("CheckUserHashResult", soap.text_element("valid", "true" if valid else "false"))


# --- Credits ---------------------------------------------------------------------


@operation(SEND, "GetCredits", soap.string("accessKey"))
def get_credits(call, access_key):
    credits = lists_services.account_credits(account_of(access_key))
    return coded_result("GetCreditsResult", soap.text_element("credits", credits.total))


@operation(SEND, "GetCreditsLists", soap.string("accessKey"), soap.integer("idList"))
def get_credits_lists(call, access_key, id_list):
    mailing_list = list_of(access_key, id_list)
    credits = lists_services.account_credits(mailing_list.account)
    return coded_result(
        "GetCreditsListsResult",
        soap.text_element("listID", mailing_list.list_id),
        soap.text_element("credits", credits.by_list.get(mailing_list.list_id, 0)),
    )


# --- Templates and messages --------------------------------------------------------


@operation(SEND, "GetTemplates", soap.string("accessKey"), soap.integer("listID"))
def get_templates(call, access_key, list_id):
    # Templates belong to the console, as in the REST API, but the list is still checked.
    mailing_list = list_of(access_key, list_id)
    items = [
        soap.result_element(
            "template", soap.text_element("templateID", template.pk), soap.text_element("templateName", template.title)
        )
        for template in Template.objects.filter(account=mailing_list.account).order_by("pk")
    ]
    return coded_result("GetTemplatesResult", soap.result_element("templates", *items))


@operation(SEND, "GetMessages", soap.string("accessKey"), soap.integer("listID"))
def get_messages(call, access_key, list_id):
    """Return the list's e-mail messages, then its SMS messages, each kind in id order.

    An e-mail message and an SMS message may have the same id, so each
    item also carries `type` (`email` or `sms`), a mailup-sim addition.
    """
    mailing_list = list_of(access_key, list_id)
    items = [
        _message_item(message.pk, message.subject, message.note, message.created_at, "email")
        for message in mailing_list.messages.order_by("pk")
    ]
    items += [
        _message_item(message.pk, message.subject, message.notes, message.created_at, "sms")
        for message in mailing_list.sms_messages.order_by("pk")
    ]
    newsletters = soap.result_element("newsletters", *items)
    return coded_result("GetMessagesResult", soap.result_element("list", newsletters))


def _message_item(message_id, subject, note, created_at, kind):
    return soap.result_element(
        "newsletter",
        soap.text_element("newsletterID", message_id),
        soap.text_element("subject", subject),
        soap.text_element("note", note),
        soap.text_element("creationdate", format_date(created_at)),
        soap.text_element("type", kind),
    )


@SEND.operation(
    "CloneMessage",
    soap.string("accessKey"),
    soap.string("listId"),
    soap.string("listGuid"),
    soap.integer("messageToCloneId"),
    soap.string("subject"),
    result=soap.INT,
)
def clone_message(call, access_key, list_id, list_guid, message_to_clone_id, subject):
    """Return the id of the copy, or a negative error code, because the result is a bare int."""
    try:
        copy = _clone(access_key, list_id, list_guid, message_to_clone_id, subject)
    except (ResultError, ListsError) as error:
        code, description = code_and_description(error)
        logger.info("SOAP MailupSend.CloneMessage failed code=%s: %s", code, description)
        return code
    return copy.pk


def _clone(access_key, raw_list_id, raw_guid, message_id, subject):
    account = account_of(access_key)
    mailing_list = list_by_id_or_guid(account, raw_list_id.strip(), raw_guid.strip())
    message = services.find_message(mailing_list, message_id)
    new_subject = one_line_subject(subject) if subject.strip() else ""

    with transaction.atomic():
        copy = services.copy_message(message)
        if new_subject:
            services.update_message(copy, subject=new_subject)
    logger.info("CloneMessage account=%s list=%s message=%s copy=%s", account.console_id, mailing_list.list_id, message.pk, copy.pk)
    return copy


# --- GetListIdentity -----------------------------------------------------------------


def list_identity_element(lists):
    items = [soap.result_element("List", Guid=item.guid, Id=item.list_id, Name=item.name) for item in lists]
    return soap.result_element("Lists", *items)


@operation(SEND, "GetListIdentity", soap.string("accessKey"), soap.string("autoId"), root="GetListIdentity", error_element=True)
def get_list_identity(call, access_key, auto_id):
    found = lists_services.find_lists_by_auto_id(account_of(access_key), auto_id)
    return soap.serialize(soap.result_element("GetListIdentity", list_identity_element(found)))


@operation(SEND, "GetListIdentity_st", soap.string("accessKey"), soap.string("autoId"), root="GetListIdentity_st")
def get_list_identity_st(call, access_key, auto_id):
    found = lists_services.find_lists_by_auto_id(account_of(access_key), auto_id)
    return coded_result("GetListIdentity_st", list_identity_element(found))
