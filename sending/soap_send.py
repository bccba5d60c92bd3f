"""MailupSend (`/MailupSend.asmx`): lists, fields, newsletters and their sendings over SOAP.

Each handler checks the accessKey, reads its parameters and options, calls
lists.services or sending.services, and writes MailUp's result document.
"""

import logging
from datetime import datetime

import lxml.html
from django.db import transaction
from django.utils import timezone
from lxml import etree

from lists import services as lists_services
from lists.errors import InvalidContact
from lists.validation import NAME_LINE_BREAKS, SINGLE_LINE_CONTROL_CHARACTERS, normalize_email
from mailup_sim import soap
from sending import services
from sending.models import SavedFilter
from sending.soap_common import (
    NAMESPACE,
    ResultError,
    account_of,
    add_session_operations,
    coded_result,
    invalid,
    list_of,
    operation,
    parse_flag,
    parse_id_list,
)

logger = logging.getLogger(__name__)

SEND = soap.Service("MailupSend", NAMESPACE, "/MailupSend.asmx", aliases=["/Services/MailupSend.asmx"])
add_session_operations(SEND)

# MailUp's `type` values; TEXT is deprecated and handled as HTML, and FILE
# carries the file's content in `content`.
HTML_CONTENT_TYPES = {"", "html", "text", "file"}
DATE_FORMAT = "%d/%m/%Y %H:%M:%S"
DELIVERY_DATE_FORMAT = "%Y%m%d%H%M%S"
SEND_TO_VALUES = ("all", "recipients", "groups")
FILTERS_AS_VALUES = {"AND": SavedFilter.Match.ALL, "OR": SavedFilter.Match.ANY}


def format_date(value):
    """Write a date as MailUp does: dd/MM/yyyy HH:mm:ss in the server's local time (TIME_ZONE)."""
    return timezone.localtime(value).strftime(DATE_FORMAT) if value else ""


# --- Reading parameters and options ----------------------------------------------


def message_html(content_type, content):
    """Return the HTML of a new message from MailUp's `type` and `content`; raises ResultError."""
    kind = content_type.strip().lower()
    if kind in HTML_CONTENT_TYPES:
        return content
    if kind == "url":
        # NOTE: the server does not fetch pages, because a fetch would reach
        # whatever host a caller names.
        raise invalid("type URL is not supported; send the page's HTML with type HTML.")
    raise invalid(f"Parameter 'type' must be HTML, TEXT, FILE or URL; got {content_type[:40]!r}.")


def message_fields(options):
    """Read the message options note, link_track, dyn_fld and emb_img; the last two change nothing here."""
    parse_flag(options, "dyn_fld", True)
    parse_flag(options, "emb_img", False)
    return {"note": options.get("note", ""), "tracking": parse_flag(options, "link_track", True)}


def delivery_date(options):
    """Read `deliverydt` (yyyyMMddHHmmss, server local time); None means at once."""
    raw = options.get("deliverydt", "").strip()
    if not raw:
        return None
    try:
        naive = datetime.strptime(raw, DELIVERY_DATE_FORMAT)
    except ValueError:
        raise invalid(f"Option 'deliverydt' must be yyyyMMddHHmmss; got {raw[:40]!r}.") from None
    try:
        return services.check_schedule(timezone.make_aware(naive, timezone.get_default_timezone()))
    except ValueError as error:
        raise invalid(f"Option 'deliverydt': {error}") from None


def sending_arguments(mailing_list, options):
    """Turn the send options into queue_sending arguments.

    The options are send_to, recipients, exclude, filters, filters_as,
    deliverydt, from_email and from_name.
    """
    send_to = options.get("send_to", "ALL").strip().lower() or "all"
    if send_to not in SEND_TO_VALUES:
        raise invalid(f"Option 'send_to' must be ALL, RECIPIENTS or GROUPS; got {options['send_to'][:40]!r}.")

    arguments = {
        "scheduled_at": delivery_date(options),
        "from_email": _sender_email(options),
        "from_name": _sender_name(options),
        "excluded_groups": lists_services.find_groups(
            mailing_list, parse_id_list(options.get("exclude", ""), "exclude")
        ),
        "filters": _saved_filters(mailing_list, parse_id_list(options.get("filters", ""), "filters")),
        "filters_match": _filters_match(options),
    }
    targets = options.get("recipients", "")
    if send_to == "groups":
        arguments["groups"] = lists_services.find_groups(mailing_list, parse_id_list(targets, "recipients"))
        if not arguments["groups"]:
            raise invalid("send_to GROUPS needs group ids in option 'recipients'.")
    elif send_to == "recipients":
        arguments["recipients"] = _recipients(mailing_list, targets)
    return arguments


def _sender_email(options):
    raw = options.get("from_email", "").strip()
    if not raw:
        return ""
    try:
        return normalize_email(raw)
    except InvalidContact:
        raise invalid(f"Option 'from_email' is not a valid address: {raw[:80]!r}.") from None


def _sender_name(options):
    # The name becomes the From header, which a line break or NUL would break.
    name = options.get("from_name", "").strip()
    if SINGLE_LINE_CONTROL_CHARACTERS.search(name) or NAME_LINE_BREAKS.search(name):
        raise invalid(f"Option 'from_name' must be one line without control characters: {name[:80]!r}.")
    return name[:200]


def _saved_filters(mailing_list, filter_ids):
    try:
        return services.find_saved_filters(mailing_list, filter_ids)
    except ValueError as error:
        raise invalid(f"Option 'filters': {error}") from None


def _filters_match(options):
    """Read `filters_as`: AND (the default) keeps recipients matching every filter, OR those matching any."""
    raw = options.get("filters_as", "").strip().upper() or "AND"
    if raw not in FILTERS_AS_VALUES:
        raise invalid(f"Option 'filters_as' must be AND or OR; got {options['filters_as'][:40]!r}.")
    return FILTERS_AS_VALUES[raw]


def _recipients(mailing_list, raw):
    emails = []
    for part in raw.split(";"):
        if part.strip():
            emails.append(_valid_email(part))
    if not emails:
        raise invalid("send_to RECIPIENTS needs addresses in option 'recipients'.")
    found = services.subscribed_recipients_by_email(mailing_list, emails)
    if not found:
        raise invalid("None of the addresses in option 'recipients' is a recipient of this console.")
    return found


def _valid_email(raw):
    try:
        return normalize_email(raw)
    except InvalidContact:
        raise invalid(f"Invalid e-mail address {raw.strip()[:80]!r}.") from None


def queue(message, mailing_list, options):
    try:
        return services.queue_sending(message, **sending_arguments(mailing_list, options))
    except ValueError as error:
        raise invalid(str(error)) from None


# --- Lists, groups and fields --------------------------------------------------


@operation(SEND, "GetLists", soap.string("accessKey"))
def get_lists(call, access_key):
    return lists_result("GetListsResult", account_of(access_key))


def lists_result(root, account):
    items = [
        soap.result_element(
            "list", soap.text_element("listID", item.list_id), soap.text_element("listName", item.name)
        )
        for item in account.lists.order_by("list_id")
    ]
    return coded_result(root, soap.result_element("lists", *items))


@operation(SEND, "GetGroups", soap.string("accessKey"), soap.integer("listID"))
def get_groups(call, access_key, list_id):
    return groups_result(list_of(access_key, list_id))


def groups_result(mailing_list):
    items = [
        soap.result_element(
            "group", soap.text_element("groupID", group.pk), soap.text_element("groupName", group.name)
        )
        for group in mailing_list.groups.order_by("pk")
    ]
    return coded_result("GetGroupsResult", soap.result_element("list", soap.result_element("groups", *items)))


def fields_element(account):
    names = dict(account.field_definitions.values_list("field_id", "name"))
    items = [soap.result_element("Field", Name=names.get(field_id, f"campo{field_id}"), Id=field_id) for field_id in range(1, 40)]
    return soap.result_element("Fields", *items)


@operation(SEND, "GetFields", soap.string("accessKey"), root="GetFields", error_element=True)
def get_fields(call, access_key):
    return soap.serialize(soap.result_element("GetFields", fields_element(account_of(access_key))))


@operation(SEND, "GetFields_st", soap.string("accessKey"), root="GetFields_st")
def get_fields_st(call, access_key):
    return coded_result("GetFields_st", fields_element(account_of(access_key)))


def created_list_element(mailing_list):
    item = soap.result_element("List", Guid=mailing_list.guid, Id=mailing_list.list_id, Name=mailing_list.name)
    return soap.result_element("Lists", item)


@operation(SEND, "CreateList", soap.string("accessKey"), soap.string("name"), soap.string("autoId"), root="CreateList", error_element=True)
def create_list(call, access_key, name, auto_id):
    created = lists_services.create_list_like(account_of(access_key), name, auto_id=auto_id)
    return soap.serialize(soap.result_element("CreateList", created_list_element(created)))


@operation(SEND, "CreateList_st", soap.string("accessKey"), soap.string("name"), soap.string("autoId"), root="CreateList_st")
def create_list_st(call, access_key, name, auto_id):
    created = lists_services.create_list_like(account_of(access_key), name, auto_id=auto_id)
    return coded_result("CreateList_st", created_list_element(created))


@operation(SEND, "DeleteList", soap.string("accessKey"), soap.integer("listId"), soap.string("autoId"))
def delete_list(call, access_key, list_id, auto_id):
    lists_services.delete_list(list_of(access_key, list_id))
    return coded_result("DeleteListResult")


@operation(SEND, "DeleteList_st", soap.string("accessKey"), soap.integer("listId"), soap.string("autoId"))
def delete_list_st(call, access_key, list_id, auto_id):
    lists_services.delete_list(list_of(access_key, list_id))
    return coded_result("DeleteList_stResult")


# --- Newsletters ---------------------------------------------------------------


@operation(SEND, "GetNewsletters", soap.string("accessKey"), soap.integer("listID"))
def get_newsletters(call, access_key, list_id):
    mailing_list = list_of(access_key, list_id)
    items = [
        soap.result_element(
            "newsletter",
            soap.text_element("newsletterID", message.pk),
            soap.text_element("subject", message.subject),
            soap.text_element("note", message.note),
            soap.text_element("creationdate", format_date(message.created_at)),
        )
        for message in mailing_list.messages.order_by("pk")
    ]
    newsletters = soap.result_element("newsletters", *items)
    return coded_result("GetNewslettersResult", soap.result_element("list", newsletters))


NEWSLETTER_PARAMS = (soap.string("subject"), soap.string("type"), soap.string("content"))


@operation(SEND, "CreateNewsletter", soap.string("accessKey"), soap.integer("listID"), *NEWSLETTER_PARAMS, soap.options("options"))
def create_newsletter(call, access_key, list_id, subject, type, content, options):
    message = new_message(list_of(access_key, list_id), subject, type, content, options)
    return coded_result("CreateNewsletterResult", soap.text_element("newsletterID", message.pk))


def new_message(mailing_list, subject, content_type, content, options):
    if not subject.strip():
        raise invalid("Parameter 'subject' is missing.")
    html = message_html(content_type, content)
    return services.create_message(mailing_list, one_line_subject(subject), html, **message_fields(options))


def one_line_subject(subject):
    """Return the stripped subject, or raise the invalid-parameter error when it contains a line break or control character."""
    subject = subject.strip()
    if SINGLE_LINE_CONTROL_CHARACTERS.search(subject):
        raise invalid("Parameter 'subject' must be one line without control characters.")
    return subject


@operation(
    SEND,
    "EditNewsletter",
    soap.string("accessKey"),
    soap.integer("listID"),
    soap.integer("newsletterId"),
    *NEWSLETTER_PARAMS,
    soap.options("options"),
)
def edit_newsletter(call, access_key, list_id, newsletter_id, subject, type, content, options):
    message = services.find_message(list_of(access_key, list_id), newsletter_id)
    changes = {"html": message_html(type, content), **message_fields(options)}
    if subject.strip():
        changes["subject"] = one_line_subject(subject)
    if "note" not in options:
        del changes["note"]
    services.update_message(message, **changes)
    return coded_result("EditNewsletterResult", soap.text_element("newsletterID", message.pk))


@operation(
    SEND,
    "GetNewsletterCode",
    soap.string("accessKey"),
    soap.integer("listID"),
    soap.integer("newsletterID"),
    soap.boolean("isTemplate"),
)
def get_newsletter_code(call, access_key, list_id, newsletter_id, is_template):
    mailing_list = list_of(access_key, list_id)
    if is_template:
        # Templates belong to the console and are offered to each of its lists.
        template = services.find_template(mailing_list.account, newsletter_id)
        subject, html = template.title, template.html
    else:
        message = services.find_message(mailing_list, newsletter_id)
        subject, html = message.subject, message.html
    header, body = split_html(html)
    return coded_result(
        "GetNewsletterCodeResult",
        soap.text_element("listID", mailing_list.list_id),
        soap.text_element("newsletterID", newsletter_id),
        soap.text_element("newsletterSubject", subject),
        soap.text_element("newsletterHeader", header),
        soap.text_element("newsletterBody", body),
        soap.text_element("newsletterCode", html),
    )


def split_html(html):
    """Return the inner HTML of `<head>` and of `<body>`; a fragment without them is all body."""
    if not html.strip():
        return "", ""
    document = lxml.html.document_fromstring(html)
    head, body = document.find("head"), document.find("body")
    return _inner_html(head), _inner_html(body) if body is not None else html


def _inner_html(element):
    if element is None:
        return ""
    parts = [element.text or ""]
    parts.extend(etree.tostring(child, encoding="unicode", method="html") for child in element)
    return "".join(parts)


# --- Sendings ------------------------------------------------------------------


@operation(SEND, "SendNewsletter", soap.string("accessKey"), soap.integer("listID"), soap.integer("newsletterID"), soap.options("options"))
def send_newsletter(call, access_key, list_id, newsletter_id, options):
    mailing_list = list_of(access_key, list_id)
    message = services.find_message(mailing_list, newsletter_id)
    parse_flag(options, "clear_stats", False)
    sending = queue(message, mailing_list, options)
    return coded_result("SendNewsletterResult", soap.text_element("deliveryID", sending.pk))


@operation(SEND, "SendNewsletterFast", soap.string("accessKey"), soap.integer("listID"), *NEWSLETTER_PARAMS, soap.options("options"))
def send_newsletter_fast(call, access_key, list_id, subject, type, content, options):
    mailing_list = list_of(access_key, list_id)
    with transaction.atomic():
        message = new_message(mailing_list, subject, type, content, options)
        sending = queue(message, mailing_list, options)
    return coded_result(
        "SendNewsletterFastResult",
        soap.text_element("newsletterID", message.pk),
        soap.text_element("deliveryID", sending.pk),
    )


@operation(
    SEND,
    "SendSingleNewsletter",
    soap.string("accessKey"),
    soap.integer("listID"),
    *NEWSLETTER_PARAMS,
    soap.string("recipientEmail"),
    soap.options("options"),
)
def send_single_newsletter(call, access_key, list_id, subject, type, content, recipient_email, options):
    mailing_list = list_of(access_key, list_id)
    email = _valid_email(recipient_email)
    with transaction.atomic():
        if type.strip().lower() == "id":
            message = services.find_message(mailing_list, _message_id(content))
        else:
            message = new_message(mailing_list, subject, type, content, options)
        sending = services.send_to_address(
            message, email, from_email=_sender_email(options), from_name=_sender_name(options)
        )
    return coded_result(
        "SendSingleNewsletterResult",
        soap.text_element("newsletterID", message.pk),
        soap.text_element("deliveryID", sending.pk),
    )


def _message_id(content):
    text = content.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise invalid(f"With type ID, 'content' must be a message id; got {text[:40]!r}.")
    return int(text)


@operation(SEND, "GetNewsletterDeliveryStatus", soap.string("accessKey"), soap.integer("deliveryID"))
def get_newsletter_delivery_status(call, access_key, delivery_id):
    sending = services.find_sending(account_of(access_key), delivery_id)
    return coded_result(
        "GetNewsletterDeliveryStatusResult",
        soap.text_element("deliveryID", sending.pk),
        soap.text_element("newsletterID", sending.message_id),
        soap.text_element("status", sending.status),
    )


# Operations registered on SEND by other modules.
from sending import soap_account, soap_queues, soap_send_nl, soap_sms  # noqa: E402,F401
