"""Transactional SMS API v2.0: checks one send request against its list and hands the SMS to the SMS sink.

A request names its list by console id and list id, proves access with
the list's ListGuid and ListSecret, and reaches one recipient subscribed
to the list by SMS. The SMS goes through sending.services like every
other SMS, so no SMS leaves the machine. Errors reuse the classes of the
transactional e-mail API, with the codes listed in docs/transactional-sms.md.
"""

import logging
import re
import secrets
import uuid
from dataclasses import dataclass

from django.db import transaction

from lists.errors import InvalidContact
from lists.models import Account, List, Recipient
from lists.validation import MAX_ID, normalize_dialled_mobile
from sending import services
from sending.transactional import AuthenticationFailed, InvalidField, InvalidRequest, TransactionalError

logger = logging.getLogger(__name__)

# The whole request is a few short strings, so a larger body is rejected
# before it is parsed.
MAX_BODY_BYTES = 64 * 1024
SENDER = re.compile(r"[A-Za-z0-9]{1,11}")
# MailUp's help gives both limits without saying which applies when.
# mailup-sim cuts GSM text (isUnicode 0) at 459 characters, three
# concatenated parts of 153, and Unicode text at 670, ten parts of 67.
MAX_CHARACTERS = {0: 459, 1: 670}
# Characters of one SMS alone, and of each part of a concatenated SMS,
# whose header takes the room of 7 GSM or 3 Unicode characters.
SINGLE_PART_CHARACTERS = {0: 160, 1: 70}
MULTI_PART_CHARACTERS = {0: 153, 1: 67}
MAX_CAMPAIGN_CODE_CHARACTERS = 200
MAX_DYNAMIC_FIELDS = 100
MAX_FIELD_NAME_CHARACTERS = 100
MAX_FIELD_VALUE_CHARACTERS = 2000


class ListNotFound(TransactionalError):
    code = "4"
    status = 404


class ContentMissing(TransactionalError):
    code = "7"


class InvalidSender(TransactionalError):
    code = "8"


class InvalidRecipient(TransactionalError):
    code = "9"


class NotSubscribed(TransactionalError):
    code = "10"


class ConsoleNotActive(TransactionalError):
    code = "11"
    status = 403


class BasicAuthenticationFailed(TransactionalError):
    """The Basic credentials of a ListSecret call are missing, malformed or wrong."""

    code = "12"
    status = 401


@dataclass(frozen=True)
class SmsRequest:
    """The checked fields of one send request; `content` has the DynamicFields filled in, `template` does not."""

    template: str
    content: str
    sender: str
    mobile_prefix: str
    mobile_number: str
    campaign_code: str
    unicode: int


@dataclass(frozen=True)
class SmsResult:
    """A sent SMS: `sending` is the SmsSending whose id is the DeliveryId, `cost` its credits."""

    sending: object
    number: str
    cost: int


def send_sms(console_id, list_id, body):
    """Check one request for list `list_id` of console `console_id` and put its SMS into the SMS sink.

    `body` is the decoded JSON. Returns an SmsResult. Raises a
    TransactionalError subclass for every rejected request, and nothing is
    stored then.
    """
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    mailing_list = find_list(console_id, list_id)
    authenticate(mailing_list, body.get("ListGuid"), body.get("ListSecret"))
    if mailing_list.account.status != Account.Status.ACTIVE:
        raise ConsoleNotActive(f"Console {console_id} is {mailing_list.account.status}.")

    request = read_request(body, mailing_list.default_prefix)
    recipient = Recipient.objects.filter(
        account=mailing_list.account, mobile_prefix=request.mobile_prefix, mobile_number=request.mobile_number
    ).first()
    not_subscribed = NotSubscribed(
        f"Recipient {request.mobile_prefix}{request.mobile_number} is not subscribed by SMS to list {list_id}."
    )
    if recipient is None:
        raise not_subscribed

    with transaction.atomic():
        message = services.sms_campaign_message(mailing_list, request.campaign_code, request.template)
        sending = services.send_sms_to_recipient(
            message,
            recipient,
            text=request.content,
            sender=request.sender,
            max_characters=MAX_CHARACTERS[request.unicode],
        )
        if sending is None:
            # Rolls back a campaign message created for this request.
            raise not_subscribed

    sent = sending.sink_messages.get()
    cost = count_parts(sent.text, request.unicode)
    logger.info(
        "transactional sms sent console=%s list=%s message=%s sending=%s recipient=%s credits=%s",
        console_id,
        list_id,
        message.pk,
        sending.pk,
        recipient.pk,
        cost,
    )
    return SmsResult(sending=sending, number=sent.number, cost=cost)


def find_list(console_id, list_id):
    """Return list `list_id` of console `console_id` with its account, or raise ListNotFound."""
    mailing_list = None
    if 0 < console_id <= MAX_ID and 0 < list_id <= MAX_ID:
        lists = List.objects.select_related("account")
        mailing_list = lists.filter(account__console_id=console_id, list_id=list_id).first()
    if mailing_list is None:
        raise ListNotFound(f"List {list_id} does not exist in console {console_id}.")
    return mailing_list


def authenticate(mailing_list, list_guid, list_secret):
    """Raise AuthenticationFailed unless ListGuid and ListSecret are those of the list.

    A list without a ListSecret accepts no request, because removing the
    secret turns transactional SMS off.
    """
    if not mailing_list.sms_list_secret:
        raise AuthenticationFailed(
            f"Transactional SMS are off for list {mailing_list.list_id}: it has no ListSecret. Create one first."
        )
    if not isinstance(list_guid, str) or not isinstance(list_secret, str):
        raise AuthenticationFailed("ListGuid and ListSecret are required strings.")
    try:
        guid_matches = uuid.UUID(list_guid.strip()) == mailing_list.guid
    except ValueError:
        guid_matches = False
    secret_matches = secrets.compare_digest(list_secret.strip().lower().encode(), mailing_list.sms_list_secret.encode())
    if not (guid_matches and secret_matches):
        logger.info(
            "transactional sms rejected console=%s list=%s: wrong ListGuid or ListSecret",
            mailing_list.account.console_id,
            mailing_list.list_id,
        )
        raise AuthenticationFailed(f"ListGuid or ListSecret does not match list {mailing_list.list_id}.")


def read_request(body, default_prefix):
    """Check the fields of a send request other than ListGuid and ListSecret; return an SmsRequest."""
    unicode = _unicode_flag(body.get("isUnicode"))
    template = _string(body.get("Content"), "Content")
    if not template.strip():
        raise ContentMissing("Content is missing or empty.")
    content = fill_dynamic_fields(template, _dynamic_fields(body.get("DynamicFields")))
    if not content.strip():
        raise ContentMissing("Content is empty once DynamicFields are filled in.")

    sender = _string(body.get("Sender"), "Sender")
    if sender and not SENDER.fullmatch(sender):
        raise InvalidSender(f"Sender {sender[:40]!r} is invalid: use 1 to 11 characters from a-z, A-Z and 0-9.")

    mobile_prefix, mobile_number = _mobile(body.get("Recipient"), default_prefix)
    campaign_code = _string(body.get("CampaignCode"), "CampaignCode").strip()
    if len(campaign_code) > MAX_CAMPAIGN_CODE_CHARACTERS:
        raise InvalidField(f"CampaignCode is longer than {MAX_CAMPAIGN_CODE_CHARACTERS} characters.")
    return SmsRequest(template, content, sender, mobile_prefix, mobile_number, campaign_code, unicode)


def fill_dynamic_fields(content, fields):
    """Replace each `[Name]` tag whose name a DynamicFields entry gives, ignoring case, in one pass.

    Tags without a value stay, so the recipient's own fields can fill them later.
    """
    if not fields:
        return content
    values = {name.lower(): value for name, value in fields.items()}
    names = sorted(values, key=len, reverse=True)
    tag = re.compile(r"\[(" + "|".join(re.escape(name) for name in names) + r")\]", re.IGNORECASE)
    return tag.sub(lambda match: values.get(match.group(1).lower(), match.group(0)), content)


def count_parts(text, unicode):
    """Return the number of SMS parts, and so of credits, that `text` takes."""
    if len(text) <= SINGLE_PART_CHARACTERS[unicode]:
        return 1
    return -(-len(text) // MULTI_PART_CHARACTERS[unicode])


def _unicode_flag(value):
    # MailUp's example sends the number 0; true, false, "0" and "1" are accepted too,
    # and a missing or null isUnicode means 0.
    flags = {0: 0, 1: 1, "0": 0, "1": 1}
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, str)) and value in flags:
        return flags[value]
    raise InvalidField(f"isUnicode must be 0 or 1, not {str(value)[:20]!r}.")


def _mobile(value, default_prefix):
    number = _string(value, "Recipient").strip()
    if not number:
        raise InvalidRecipient("Recipient is missing.")
    try:
        return normalize_dialled_mobile(number, default_prefix)
    except InvalidContact as error:
        raise InvalidRecipient(f"Recipient is not a valid mobile number: {error.message}") from None


def _dynamic_fields(value):
    if value is None:
        return {}
    if not isinstance(value, list):
        raise InvalidField("DynamicFields must be an array of {N, V} objects.")
    if len(value) > MAX_DYNAMIC_FIELDS:
        raise InvalidField(f"DynamicFields has more than {MAX_DYNAMIC_FIELDS} entries.")

    fields = {}
    for position, item in enumerate(value, 1):
        if not isinstance(item, dict):
            raise InvalidField(f"DynamicFields[{position}] must be an object with N and V.")
        name = _string(item.get("N"), f"DynamicFields[{position}].N")
        field_value = _string(item.get("V"), f"DynamicFields[{position}].V")
        if len(name) > MAX_FIELD_NAME_CHARACTERS or len(field_value) > MAX_FIELD_VALUE_CHARACTERS:
            raise InvalidField(
                f"DynamicFields[{position}] is too long: N takes at most {MAX_FIELD_NAME_CHARACTERS} characters "
                f"and V at most {MAX_FIELD_VALUE_CHARACTERS}."
            )
        if name:
            fields[name] = field_value
    return fields


def _string(value, key):
    """Return a string value ("" for null), or raise InvalidField for another type or a NUL character."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidField(f"{key} must be a string.")
    if "\x00" in value:
        raise InvalidField(f"{key} contains a NUL character.")
    return value
