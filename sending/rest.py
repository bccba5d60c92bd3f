"""ConsoleService.svc of MailUp's REST API v1.1: e-mail messages, tags, templates, images and sendings.

Views parse the request, call sending.services (and lists.services for
recipients) for every change, and shape the response in MailUp's JSON.
Plumbing (bearer check, error envelope, paging) lives in mailup_sim.rest.
"""

import base64
import binascii
import json
from datetime import datetime
from datetime import timezone as dt_timezone
from urllib.parse import quote

from django.conf import settings
from django.db.models import Max, Q
from django.utils import timezone

from lists import services as lists_services
from lists.errors import InvalidContact
from lists.rest import filtered, get_group, get_list, paged, read_contact, read_fields
from lists.services import Contact
from lists.validation import (
    CONTROL_CHARACTERS,
    NAME_LINE_BREAKS,
    SINGLE_LINE_CONTROL_CHARACTERS,
    normalize_email,
    parse_id,
    parse_id_list,
)
from mailup_sim.filterby import Property
from mailup_sim.rest import (
    RestError,
    empty_response,
    get_or_404,
    json_response,
    query_params,
    read_json,
    read_json_object,
    reject_lone_surrogates,
)
from sending import services
from sending.errors import InvalidAttachment
from sending.models import Image, Message, Sending, SinkSms, SmsMessage, Tag, Template

# MailUp writes creation dates of messages with a trailing Z (UTC).
DATE_FORMAT = "%Y-%m-%d %H:%M:%SZ"
# Formats accepted for deferred sends: MailUp's documented one and the same without the Z.
SCHEDULE_FORMATS = ("%Y-%m-%d %H:%M:%SZ", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S")
DEFAULT_TRACKING_PROTOCOLS = ["http:", "https:"]
# The JSON types that Id, Description and Value of a message's Fields may have.
FIELD_SCALARS = (str, int, float, bool, type(None))
# Uploaded images are stored in the database, so their size is bounded.
MAX_IMAGE_BYTES = 5 * 1024 * 1024
IMAGE_CONTENT_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "svg": "image/svg+xml",
}

# Column sizes of Message, so an oversized value gets 400 instead of a database error.
MESSAGE_TEXT_LIMITS = {"subject": 500, "preheader": 300}
MESSAGE_TEXT_NAMES = {"subject": "Subject", "preheader": "PreHeader"}
MESSAGE_PROPERTIES = {
    "idmessage": Property("pk", "int"),
    "id": Property("pk", "int"),
    "subject": Property("subject"),
    "notes": Property("note"),
    "idlist": Property("list__list_id", "int"),
}
TAG_PROPERTIES = {"id": Property("pk", "int"), "name": Property("name"), "enabled": Property("enabled", "bool")}
TEMPLATE_PROPERTIES = {"id": Property("pk", "int"), "title": Property("title")}
SENDING_PROPERTIES = {
    "id": Property("pk", "int"),
    "idsending": Property("pk", "int"),
    "idmessage": Property("message_id", "int"),
    "status": Property("status"),
}
# The queues of GET /Console/Email/Sendings/{queue}: sendings waiting or
# running now, sendings scheduled for later, and paused or stopped sendings
# without a start date.
QUEUE_STATUSES = {
    "immediate": [Sending.Status.QUEUED, Sending.Status.PREPARING, Sending.Status.SENDING],
    "deferred": [Sending.Status.SCHEDULED],
    "undefined": [Sending.Status.PAUSED, Sending.Status.CANCELLED],
}


# --- Lookups and shared parsing -------------------------------------------------


def get_message(account, list_id, message_id):
    return _find_in_list(Message, "message", account, list_id, message_id)


def get_account_message(account, message_id):
    return _find_in_account(Message, "message", account, message_id)


def _find_in_list(model, noun, account, list_id, message_id):
    """Return the e-mail or SMS message `message_id` of list `list_id`, or raise RestError(404) naming the `noun`."""
    mailing_list = get_list(account, list_id)
    messages = model.objects.filter(pk=message_id, list=mailing_list).select_related("list__account")
    return get_or_404(messages, f"{noun} {message_id} in list {list_id}")


def _find_in_account(model, noun, account, message_id):
    messages = model.objects.filter(pk=message_id, list__account=account).select_related("list__account")
    return get_or_404(messages, f"{noun} {message_id} in this console")


def get_sending(account, sending_id):
    sendings = Sending.objects.filter(pk=sending_id, list__account=account).select_related("message")
    return get_or_404(sendings, f"sending {sending_id} in this console")


def format_utc(value):
    return value.astimezone(dt_timezone.utc).strftime(DATE_FORMAT) if value else ""


def _text(document, name, default=""):
    value = document.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise RestError(400, f"{name} must be a string.")
    if "\x00" in value:
        # PostgreSQL text columns cannot store NUL.
        raise RestError(400, f"{name} contains a NUL character.")
    return value


def _flag(document, name, default=False):
    value = document.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise RestError(400, f"{name} must be true or false.")
    return value


# --- Messages ---------------------------------------------------------------------


def read_message_body(document, partial=False):
    """Convert MailUp's message body into keyword arguments of services.create_message and update_message.

    With `partial`, absent properties are left out so an update keeps them.
    """
    values = {}
    readers = {
        "Subject": ("subject", _text),
        "Content": ("html", _text),
        "PreHeader": ("preheader", _text),
        "Notes": ("note", _text),
        "Embed": ("embed", _flag),
        "IsConfirmation": ("is_confirmation", _flag),
        "UseDynamicField": ("use_dynamic_fields", _flag),
    }
    for name, (column, reader) in readers.items():
        if not partial or name in document:
            values[column] = reader(document, name)
    if not partial or "Fields" in document:
        values["fields"] = _read_message_fields(document.get("Fields"))
    if not partial or "TrackingInfo" in document:
        values.update(_read_tracking(document.get("TrackingInfo")))
    if not partial or "Tags" in document:
        values["tags"] = _read_tag_names(document.get("Tags"))

    subject = values.get("subject")
    if subject is not None and (not subject.strip() or SINGLE_LINE_CONTROL_CHARACTERS.search(subject)):
        raise RestError(400, "Subject is missing or contains control characters such as a line break.")
    for column, limit in MESSAGE_TEXT_LIMITS.items():
        if len(values.get(column, "")) > limit:
            raise RestError(400, f"{MESSAGE_TEXT_NAMES[column]} is longer than {limit} characters.")
    return values


def _read_message_fields(raw):
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise RestError(400, "Fields must be an array of {Id, Value} objects.")
    fields = [{"Id": item.get("Id"), "Description": item.get("Description"), "Value": item.get("Value")} for item in raw]
    # A nested array or object would be stored and echoed as it came, and
    # one nested deeply enough makes the XML response fail.
    if not all(isinstance(value, FIELD_SCALARS) for field in fields for value in field.values()):
        raise RestError(400, "Each item of Fields needs an Id, Description and Value that are strings, numbers or null.")
    if _contains_nul(fields):
        raise RestError(400, "Fields contains a NUL character.")
    return fields


def _contains_nul(value):
    """Tell whether a JSON value has NUL in a string, which PostgreSQL's jsonb cannot store.

    The walk uses its own stack, because a client may nest arrays as deeply
    as the JSON parser allows.
    """
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str) and "\x00" in item:
            return True
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _read_tracking(raw):
    if raw is None:
        return {"tracking": True, "tracking_params": "", "tracking_protocols": list(DEFAULT_TRACKING_PROTOCOLS)}
    if not isinstance(raw, dict):
        raise RestError(400, "TrackingInfo must be an object with Enabled, Protocols and CustomParams.")
    protocols = raw.get("Protocols")
    if protocols is None:
        protocols = list(DEFAULT_TRACKING_PROTOCOLS)
    if not isinstance(protocols, list) or not all(isinstance(item, str) for item in protocols):
        raise RestError(400, "TrackingInfo.Protocols must be an array of strings such as \"http:\".")
    if _contains_nul(protocols):
        raise RestError(400, "TrackingInfo.Protocols contains a NUL character.")
    return {
        "tracking": _flag(raw, "Enabled", True),
        "tracking_params": _text(raw, "CustomParams")[:500],
        "tracking_protocols": protocols,
    }


def _read_tag_names(raw):
    """Read Tags as MailUp's tag objects ({"Name": …}) or as plain strings."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise RestError(400, "Tags must be an array of tags.")
    names = []
    for item in raw:
        name = item.get("Name") if isinstance(item, dict) else item
        if not isinstance(name, str) or not name.strip() or CONTROL_CHARACTERS.search(name):
            raise RestError(400, "Each tag needs a Name without control characters.")
        names.append(name)
    return names


def shape_created(message):
    return {
        "CreationDate": format_utc(message.created_at),
        "Notes": message.note,
        "Subject": message.subject,
        "idList": message.list.list_id,
        "idMessage": message.pk,
    }


def shape_message(message):
    tags = {tag.name: tag for tag in Tag.objects.filter(list_id=message.list_id, name__in=message.tags)}
    return {
        **shape_created(message),
        "Content": message.html,
        "Embed": message.embed,
        "Fields": message.fields,
        "IsConfirmation": message.is_confirmation,
        "PreHeader": message.preheader,
        "Tags": [shape_tag(tags[name]) for name in message.tags if name in tags],
        "TrackingInfo": {
            "CustomParams": message.tracking_params,
            "Enabled": message.tracking,
            "Protocols": message.tracking_protocols,
        },
        "UseDynamicField": message.use_dynamic_fields,
        "Attachments": shape_attachments(message),
    }


def shape_message_item(message):
    return {**shape_created(message), "ServiceType": "Email"}


def shape_published(message):
    return {
        **shape_message_item(message),
        "LastSendDate": format_utc(getattr(message, "last_send", None)),
        "Url": f"{lists_services.console_origin(message.list.account)}/frontend/nl_preview_window.aspx?idNL={message.pk}",
    }


def create_message(request, list_id):
    mailing_list = get_list(request.account, list_id)
    values = read_message_body(read_json_object(request))
    message = services.create_message(mailing_list, **values)
    return json_response(shape_created(message))


def create_from_template(request, list_id, template_id):
    mailing_list = get_list(request.account, list_id)
    template = get_template(request.account, template_id)
    message = services.create_message_from_template(mailing_list, template)
    return json_response(shape_created(message))


def read_message(request, list_id, message_id):
    return json_response(shape_message(get_message(request.account, list_id, message_id)))


def copy_message(request, list_id, message_id):
    """POST /Console/List/{id}/Email/{idMessage} with an empty body: the create response of the copy."""
    message = get_message(request.account, list_id, message_id)
    return json_response(shape_created(services.copy_message(message)))


def update_message(request, list_id, message_id):
    message = get_message(request.account, list_id, message_id)
    values = read_message_body(read_json_object(request), partial=True)
    message = services.update_message(message, **values)
    return json_response(shape_message(message))


def delete_message(request, list_id, message_id):
    services.delete_message(get_message(request.account, list_id, message_id))
    return empty_response()


def enable_dynamic_fields(request, list_id, message_id, flag):
    if flag.lower() not in ("true", "false"):
        raise RestError(404, f"No REST resource at {request.path}.")
    message = get_message(request.account, list_id, message_id)
    services.update_message(message, use_dynamic_fields=flag.lower() == "true")
    return empty_response()


def online_visibility(request, list_id, message_id):
    """PUT …/Online/Visibility with a bare JSON boolean."""
    message = get_message(request.account, list_id, message_id)
    visible = read_json(request)
    if not isinstance(visible, bool):
        raise RestError(400, "The body must be the JSON literal true or false.")
    services.update_message(message, visible_online=visible)
    return empty_response()


def list_messages(request, list_id):
    """GET /Console/List/{id}/Emails; `tags=a,b` keeps messages that carry every tag named."""
    mailing_list = get_list(request.account, list_id)
    messages = Message.objects.filter(list=mailing_list).select_related("list")
    required_tags = _tag_filter(request)
    if required_tags:
        # Tags are a JSON list per message, which neither database filters
        # by element portably, so the matching ids are collected here.
        tagged = [pk for pk, tags in messages.values_list("pk", "tags") if all(name in tags for name in required_tags)]
        messages = messages.filter(pk__in=tagged)
    return paged(request, messages, MESSAGE_PROPERTIES, shape_message_item)


def _tag_filter(request):
    raw = query_params(request).get("tags") or ""
    return [name.strip() for name in raw.split(",") if name.strip()]


def online_messages(request, list_id):
    mailing_list = get_list(request.account, list_id)
    messages = _with_last_send(Message.objects.filter(list=mailing_list, visible_online=True))
    return paged(request, messages, MESSAGE_PROPERTIES, shape_published)


def archived_messages(request, list_id):
    """GET …/Archived/Emails: messages of the list that at least one finished sending delivered."""
    mailing_list = get_list(request.account, list_id)
    messages = _with_last_send(Message.objects.filter(list=mailing_list, sendings__status=Sending.Status.DONE))
    return paged(request, messages.distinct(), MESSAGE_PROPERTIES, shape_published)


def _with_last_send(messages):
    done = Q(sendings__status=Sending.Status.DONE)
    return messages.select_related("list__account").annotate(last_send=Max("sendings__finished_at", filter=done))


def user_messages(request):
    messages = Message.objects.filter(list__account=request.account).select_related("list")
    return paged(request, messages, MESSAGE_PROPERTIES, shape_message_item)


# --- Tags and templates -----------------------------------------------------------


def shape_tag(tag):
    return {"Enabled": tag.enabled, "Id": tag.pk, "Name": tag.name}


def get_tag(account, list_id, tag_id):
    mailing_list = get_list(account, list_id)
    tags = Tag.objects.filter(pk=tag_id, list=mailing_list).select_related("list")
    return get_or_404(tags, f"tag {tag_id} in list {list_id}")


def list_tags(request, list_id):
    mailing_list = get_list(request.account, list_id)
    tags = filtered(Tag.objects.filter(list=mailing_list), query_params(request), TAG_PROPERTIES)
    return json_response([shape_tag(tag) for tag in tags])


def create_tag(request, list_id):
    """POST …/Tag with a JSON string, or the raw unquoted text that the official PHP sample sends."""
    mailing_list = get_list(request.account, list_id)
    raw = request.body.decode("utf-8", errors="replace").strip()
    try:
        name = json.loads(raw) if raw else ""
    except ValueError:
        name = raw
    if not isinstance(name, str) or CONTROL_CHARACTERS.search(name):
        raise RestError(400, "The body must be the tag name as a JSON string.")
    reject_lone_surrogates(name)
    return json_response(shape_tag(services.create_tag(mailing_list, name)))


def update_tag(request, list_id, tag_id):
    tag = get_tag(request.account, list_id, tag_id)
    document = read_json_object(request)
    name = _text(document, "Name", tag.name)
    if CONTROL_CHARACTERS.search(name):
        raise RestError(400, "The tag Name must not contain control characters.")
    tag = services.update_tag(tag, name, enabled=_flag(document, "Enabled", tag.enabled))
    return json_response(shape_tag(tag))


def delete_tag(request, list_id, tag_id):
    services.delete_tag(get_tag(request.account, list_id, tag_id))
    return empty_response()


def shape_template(template):
    return {
        "Content": template.html,
        "Id": template.pk,
        "Text": template.text,
        "Thumbnail": template.thumbnail,
        "Title": template.title,
    }


def list_templates(request, list_id):
    get_list(request.account, list_id)
    return paged(request, Template.objects.filter(account=request.account), TEMPLATE_PROPERTIES, shape_template)


def read_template(request, list_id, template_id):
    get_list(request.account, list_id)
    return json_response(shape_template(get_template(request.account, template_id)))


def get_template(account, template_id):
    templates = Template.objects.filter(pk=template_id, account=account)
    return get_or_404(templates, f"template {template_id} in this console")


# --- Images -------------------------------------------------------------------------


def image_url(image, encode=True):
    """Return the public URL of an image, with its name percent-encoded unless `encode` is False.

    Without encoding, a name with "?", "#" or "%" gives a URL that does not
    lead back to the image. URLs returned before names were encoded have
    the `encode=False` form.
    """
    name = quote(image.name) if encode else image.name
    return f"{settings.PUBLIC_ORIGIN.rstrip('/')}/images/{image.pk}/{name}"


def _images_of(request, list_id):
    mailing_list = get_list(request.account, list_id) if list_id is not None else None
    return mailing_list, Image.objects.filter(account=request.account, list=mailing_list)


def list_images(request, list_id=None):
    _mailing_list, images = _images_of(request, list_id)
    return json_response([image_url(image) for image in images])


def upload_image(request, list_id=None):
    """POST …/Images with {"Base64Data","Name"}: the URL of the stored image as a JSON string."""
    mailing_list, _images = _images_of(request, list_id)
    document = read_json_object(request)
    name = _text(document, "Name").strip()
    extension = name.rpartition(".")[2].lower()
    if "/" in name or "\\" in name or SINGLE_LINE_CONTROL_CHARACTERS.search(name) or extension not in IMAGE_CONTENT_TYPES:
        raise RestError(400, f"Name must be a file name ending in one of {', '.join(IMAGE_CONTENT_TYPES)}.")
    data = _read_base64(document, "Base64Data")
    if len(data) > MAX_IMAGE_BYTES:
        raise RestError(400, f"The image is larger than {MAX_IMAGE_BYTES} bytes.")
    image = services.add_image(request.account, name, data, IMAGE_CONTENT_TYPES[extension], mailing_list)
    return json_response(image_url(image))


def delete_image(request, list_id=None):
    """DELETE …/Images with the image URL as a JSON string."""
    _mailing_list, images = _images_of(request, list_id)
    url = read_json(request)
    if not isinstance(url, str):
        raise RestError(400, "The body must be the image URL as a JSON string.")
    url = url.strip()
    image = next((image for image in images if url in (image_url(image), image_url(image, encode=False))), None)
    if image is None:
        raise RestError(404, "No image with that URL in this library.")
    services.delete_image(image)
    return empty_response()


# --- Attachments ----------------------------------------------------------------------

# The JSON property of the upload body behind each field that services.add_attachment names.
ATTACHMENT_FIELDS = {"filename": "Name", "content": "Base64Data", "slot": "Slot"}


def shape_attachment(attachment, message):
    """Return the upload body without Base64Data, plus Size in bytes.

    MailUp documents no listing shape, so this one is mailup-sim's choice.
    """
    return {
        "Name": attachment.filename,
        "Size": attachment.size,
        "Slot": attachment.slot,
        "idList": message.list.list_id,
        "idMessage": message.pk,
    }


def shape_attachments(message):
    return [shape_attachment(attachment, message) for attachment in message.attachments.all()]


def list_attachments(request, list_id, message_id):
    """GET …/Email/{idMessage}/Attachment: the message's attachments in slot order, as a JSON array."""
    return json_response(shape_attachments(get_message(request.account, list_id, message_id)))


def upload_attachment(request, list_id, message_id, slot):
    """POST …/Email/{idMessage}/Attachment/{slot} with {"Base64Data","Name","Slot","idList","idMessage"}.

    Stores the file in the slot, replacing the file there, and returns an
    empty body. Slot, idList and idMessage may be left out of the body.
    """
    message = get_message(request.account, list_id, message_id)
    document = read_json_object(request, max_bytes=attachment_body_limit())
    _check_body_ids(document, {"Slot": slot, "idList": list_id, "idMessage": message_id})
    name = _text(document, "Name")
    if not name.strip():
        raise RestError(400, "Name is missing.")
    content = _read_base64(document, "Base64Data")

    try:
        services.add_attachment(message, name, content, slot=slot)
    except InvalidAttachment as error:
        raise _attachment_error(error) from None
    return empty_response()


def delete_attachment(request, list_id, message_id, slot):
    message = get_message(request.account, list_id, message_id)
    try:
        services.remove_attachment_in_slot(message, slot)
    except InvalidAttachment as error:
        raise _attachment_error(error) from None
    return empty_response()


def attachment_body_limit():
    """Return the largest upload body read: room for a file of ATTACHMENT_MAX_BYTES in Base64.

    Base64 makes the file 4/3 larger, and line breaks and escaped slashes
    (PHP's json_encode writes "\\/") add a little, so twice the file limit
    is ample. A file between the limit and this size reaches
    services.add_attachment, which names Base64Data in its error.
    """
    return 2 * settings.ATTACHMENT_MAX_BYTES + 64 * 1024


def _check_body_ids(document, path_ids):
    """Raise RestError(400) when an id in the body names another slot, list or message than the path."""
    for name, expected in path_ids.items():
        given = document.get(name)
        if given is None:
            continue
        if isinstance(given, bool) or not isinstance(given, (int, str)) or str(given).strip() != str(expected):
            raise RestError(400, f"{name} in the body is {str(given)[:20]!r}, but the path names {expected}.")


def _read_base64(document, name):
    """Decode a Base64 property; line breaks and spaces, which some encoders insert, are ignored."""
    text = "".join(_text(document, name).split())
    if not text:
        raise RestError(400, f"{name} is missing.")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise RestError(400, f"{name} is not valid base64.") from None


def _attachment_error(error):
    return RestError(400, f"{ATTACHMENT_FIELDS[error.field]} is invalid. {error.message}")


# --- Sendings -------------------------------------------------------------------------


def read_send_options(request):
    """Read SenderName, SenderAddress, datetime, inGroups and notInGroups from the query string or a JSON body."""
    document = read_json(request)
    document = document if isinstance(document, dict) else {}
    params = query_params(request)

    def value(name):
        raw = params.get(name)
        if raw is None:
            raw = next((str(v) for k, v in document.items() if k.lower() == name.lower() and v is not None), None)
        return (raw or "").strip()

    sender_name = value("SenderName")
    if SINGLE_LINE_CONTROL_CHARACTERS.search(sender_name) or NAME_LINE_BREAKS.search(sender_name):
        # The name goes into the From header, which a line break or NUL would break.
        raise RestError(400, "SenderName must be one line without control characters.")
    sender_email = value("SenderAddress")
    return {
        "from_name": sender_name[:200],
        "from_email": normalize_email(sender_email) if sender_email else "",
        "scheduled_at": parse_schedule(value("datetime")) if value("datetime") else None,
        "groups": value("inGroups"),
        "excluded_groups": value("notInGroups"),
    }


def parse_schedule(raw):
    for pattern in SCHEDULE_FORMATS:
        try:
            moment = datetime.strptime(raw, pattern).replace(tzinfo=dt_timezone.utc)
        except ValueError:
            continue
        try:
            return services.check_schedule_limit(moment)
        except ValueError as error:
            raise RestError(400, str(error)) from None
    raise RestError(400, f"The date {raw[:40]!r} is not in the format yyyy-MM-dd HH:mm:ssZ (UTC).")


def _groups_of(mailing_list, raw, name):
    ids = parse_id_list(raw, name)
    groups = list(mailing_list.groups.filter(pk__in=ids))
    if len(groups) != len(set(ids)):
        raise RestError(400, f"{name} names a group that is not in list {mailing_list.list_id}.")
    return groups


def send_result(sending, sent, invalid=(), unprocessed=()):
    return {
        "Id": sending.pk if sending else 0,
        "InvalidRecipients": list(invalid),
        "Sent": sent,
        "UnprocessedRecipients": list(unprocessed),
        "idMessage": sending.message_id if sending else None,
    }


def _queue(message, groups, excluded_groups, options):
    sending = services.queue_sending(
        message,
        groups=groups,
        excluded_groups=excluded_groups,
        scheduled_at=options["scheduled_at"],
        from_name=options["from_name"],
        from_email=options["from_email"],
    )
    return json_response(send_result(sending, services.target_recipients(sending).count()))


def send_to_list(request, list_id, message_id):
    message = get_message(request.account, list_id, message_id)
    options = read_send_options(request)
    groups = _groups_of(message.list, options["groups"], "inGroups")
    excluded = _groups_of(message.list, options["excluded_groups"], "notInGroups")
    return _queue(message, groups, excluded, options)


def send_to_group(request, group_id, message_id):
    group = get_group(request.account, group_id)
    messages = Message.objects.filter(pk=message_id, list=group.list).select_related("list__account")
    message = get_or_404(messages, f"message {message_id} in the list of group {group_id}")
    return _queue(message, [group], [], read_send_options(request))


def send_to_recipient(request):
    """POST /Console/Email/Send: one message to one address subscribed to the message's list.

    Fields, when given, update the recipient's fields first. An address that
    is not a subscribed recipient of the list is reported in
    UnprocessedRecipients, and then nothing is sent or changed.
    """
    document = read_json_object(request)
    message = get_account_message(request.account, _read_id(document, "idMessage"))
    email = _text(document, "Email").strip()
    if not email:
        raise RestError(400, "Email is missing.")
    try:
        email = normalize_email(email)
    except InvalidContact:
        return json_response({**send_result(None, 0, invalid=[{"Email": email[:254]}]), "idMessage": message.pk})

    fields = read_fields(document)
    recipient = lists_services.find_recipient(request.account, Contact(email=email))
    sending = services.send_to_subscriber(message, recipient, fields) if recipient is not None else None
    sent = services.target_recipients(sending).count() if sending else 0
    if not sent:
        return json_response({**send_result(sending, 0, unprocessed=[{"Email": email}]), "idMessage": message.pk})
    return json_response(send_result(sending, sent))


def _read_id(document, name):
    raw = document.get(name)
    if not isinstance(raw, (int, str)) or isinstance(raw, bool):
        raise RestError(400, f"{name} must be a positive integer, not {str(raw)[:40]!r}.")
    return parse_id(str(raw), name)


def shape_sending(sending):
    return sending_item(sending, sending.started_at, sending.finished_at)


def sending_item(sending, started_at, finished_at):
    """Build the SendHistory and sending-queue item of an e-mail or SMS sending."""
    return {
        "CreationDate": format_utc(sending.created_at),
        "EndDate": format_utc(finished_at),
        "Id": sending.pk,
        "ScheduledDate": format_utc(sending.scheduled_at),
        "StartDate": format_utc(started_at),
        "Status": sending.status,
        "Subject": sending.message.subject,
        "idList": sending.list.list_id,
        "idMessage": sending.message_id,
    }


def send_history(request, list_id, message_id):
    message = get_message(request.account, list_id, message_id)
    sendings = Sending.objects.filter(message=message).select_related("message", "list")
    return paged(request, sendings, SENDING_PROPERTIES, shape_sending)


def sending_queue(queue):
    """Build the view of GET /Console/Email/Sendings/Immediate|Deferred|Undefined."""

    def view(request):
        sendings = Sending.objects.filter(list__account=request.account, status__in=QUEUE_STATUSES[queue])
        return paged(request, sendings.select_related("message", "list"), SENDING_PROPERTIES, shape_sending)

    view.__name__ = "sending_queue"
    return view


def start_now(request, sending_id):
    services.start_sending_now(get_sending(request.account, sending_id))
    return empty_response()


def deferred(request, sending_id):
    """GET returns the earliest allowed start date (now); POST {"Date": …} schedules the sending."""
    sending = get_sending(request.account, sending_id)
    if request.method == "GET":
        return json_response(format_utc(timezone.now()))

    document = read_json_object(request)
    when = parse_schedule(_text(document, "Date").strip())
    services.schedule_sending(sending, when)
    return empty_response()


def stop(request, sending_id):
    """POST …/Stop pauses the sending, because MailUp lets a stopped sending start again or be deleted."""
    services.pause_sending(get_sending(request.account, sending_id))
    return empty_response()


def delete_sending(request, sending_id):
    services.delete_sending(get_sending(request.account, sending_id))
    return empty_response()



# --- SMS ------------------------------------------------------------------------------


def get_sms_message(account, list_id, message_id):
    return _find_in_list(SmsMessage, "SMS message", account, list_id, message_id)


def get_account_sms_message(account, message_id):
    return _find_in_account(SmsMessage, "SMS message", account, message_id)


def shape_sms(message):
    return {
        "Content": message.text,
        "CreationDate": format_utc(message.created_at),
        "Notes": message.notes,
        "Subject": message.subject,
        "idList": message.list.list_id,
        "idMessage": message.pk,
    }


def read_sms_body(request):
    document = read_json_object(request)
    values = {"text": _text(document, "Content"), "subject": _text(document, "Subject"), "notes": _text(document, "Notes")}
    if SINGLE_LINE_CONTROL_CHARACTERS.search(values["subject"]):
        raise RestError(400, "Subject must not contain control characters such as a line break.")
    return values


def create_sms(request, list_id):
    mailing_list = get_list(request.account, list_id)
    return json_response(shape_sms(services.create_sms_message(mailing_list, **read_sms_body(request))))


def list_sms(request, list_id):
    mailing_list = get_list(request.account, list_id)
    messages = SmsMessage.objects.filter(list=mailing_list).select_related("list")
    return paged(request, messages, MESSAGE_PROPERTIES, shape_sms)


def read_sms(request, list_id, message_id):
    return json_response(shape_sms(get_sms_message(request.account, list_id, message_id)))


def update_sms(request, list_id, message_id):
    message = get_sms_message(request.account, list_id, message_id)
    return json_response(shape_sms(services.update_sms_message(message, **read_sms_body(request))))


def sms_send_result(sending, message_id, unprocessed=()):
    return {
        "Id": sending.pk if sending else 0,
        "InvalidRecipients": [],
        "Sent": sending.sent if sending else 0,
        "UnprocessedRecipients": list(unprocessed),
        "idMessage": message_id,
    }


def send_sms_to_list(request, list_id, message_id):
    message = get_sms_message(request.account, list_id, message_id)
    return json_response(sms_send_result(services.send_sms_to_list(message), message.pk))


def send_sms_to_group(request, group_id, message_id):
    group = get_group(request.account, group_id)
    messages = SmsMessage.objects.filter(pk=message_id, list=group.list).select_related("list__account")
    message = get_or_404(messages, f"SMS message {message_id} in the list of group {group_id}")
    return json_response(sms_send_result(services.send_sms_to_list(message, group=group), message.pk))


def send_sms_to_number(request):
    """POST /Console/Sms/Send {"Number","Prefix","idMessage","Fields"}: one SMS to a recipient subscribed by SMS."""
    document = read_json_object(request)
    message = get_account_sms_message(request.account, _read_id(document, "idMessage"))
    contact = read_contact(
        {"MobileNumber": _text(document, "Number"), "MobilePrefix": _text(document, "Prefix")},
        message.list.default_prefix,
    )
    if not contact.mobile_number:
        raise RestError(400, "Number is missing.")

    recipient = lists_services.find_recipient(request.account, contact)
    if recipient is not None and document.get("Fields"):
        recipient = lists_services.update_recipient(request.account, recipient, contact, read_fields(document))
    sending = services.send_sms_to_recipient(message, recipient) if recipient is not None else None
    unprocessed = [] if sending else [{"Number": contact.mobile_number, "Prefix": contact.mobile_prefix}]
    return json_response(sms_send_result(sending, message.pk, unprocessed))


def sms_report(request, message_id):
    message = get_account_sms_message(request.account, message_id)
    delivered = SinkSms.objects.filter(sending__message=message).count()
    return json_response({"Delivered": delivered, "NotDelivered": 0, "Sent": delivered, "idMessage": message.pk})


def sms_report_details(request, message_id):
    message = get_account_sms_message(request.account, message_id)
    items = SinkSms.objects.filter(sending__message=message).order_by("pk")
    return paged(
        request,
        items,
        {"number": Property("number"), "id": Property("pk", "int")},
        lambda sms: {"Date": format_utc(sms.received_at), "Number": sms.number, "Status": "Delivered"},
    )
