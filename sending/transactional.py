"""Transactional mail: SMTP+ users, the v2.0 MessageDTO and the sendings that carry one message each.

The HTTP API (`/API/v2.0/messages/sendmessage` and `sendtemplate`) and the
SMTP+ submission port both end in `queue_transactional`, which stores the
finished MIME message on a transactional Sending with one Delivery per
envelope recipient. The relay then signs and sends those deliveries exactly
as it does newsletter deliveries.
"""

import base64
import binascii
import logging
import re
import secrets
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr, getaddresses

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone
from django.utils.html import escape

from lists import login_guard
from lists import services as lists_services
from lists.errors import InvalidContact, InvalidParameter
from lists.models import Account
from lists.validation import CONTROL_CHARACTERS, normalize_email
from sending import services
from sending.html_text import html_to_text
from sending.models import Delivery, Message, Sending, SmtpUser
from sending.rendering import MESSAGE_POLICY

logger = logging.getLogger(__name__)

SMTP_USERNAME = re.compile(r"^s\d{1,10}_\d{1,4}$")
# Headers a client may not set through ExtendedHeaders, because the
# platform writes them or they change who receives the message.
RESERVED_HEADERS = {
    "from", "to", "cc", "bcc", "subject", "date", "message-id", "reply-to", "sender", "return-path",
    "mime-version", "content-type", "content-transfer-encoding", "content-disposition", "dkim-signature",
    "received", "list-unsubscribe", "list-unsubscribe-post",
}  # fmt: skip
HEADER_NAME = re.compile(r"^[!-9;-~]{1,76}$")
# The part between < and > of a Content-ID: printable ASCII without the
# brackets, because `<a>b>` would end the identifier early.
CONTENT_ID = re.compile(r"[!-;=?-~]{1,200}")
ATTACH_PLACEHOLDER = re.compile(r"\[attach(\d{1,3})\]", re.IGNORECASE)
MAX_RECIPIENTS = 100
MAX_SUBJECT_CHARACTERS = 500


class TransactionalError(Exception):
    """A rejected transactional request; `code` is the v2.0 error Code and `status` the HTTP status."""

    code = "2"
    status = 400

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class InvalidRequest(TransactionalError):
    code = "1"


class InvalidField(TransactionalError):
    code = "2"


class AuthenticationFailed(TransactionalError):
    code = "3"
    status = 403


class TemplateNotFound(TransactionalError):
    code = "4"
    status = 404


class MessageTooLarge(TransactionalError):
    code = "5"
    status = 413


# --- SMTP+ users ------------------------------------------------------------------

# MailUp's SmtpPlusPriorities, in code order.
SMTP_PLUS_PRIORITIES = {1: "VeryHigh", 2: "High", 3: "Normal", 4: "Low", 5: "VeryLow"}
DEFAULT_PRIORITY = 3
MAX_NOTE_CHARACTERS = 500
MAX_TRUSTED_ENTRIES = 100
# An ASCII host name of at least two labels. Internationalized domains are
# given in their xn-- form.
DOMAIN_NAME = re.compile(r"^(?=.{1,253}$)(?:(?!-)[a-z0-9-]{1,63}(?<!-)\.)+(?!-)[a-z0-9-]{1,63}(?<!-)$")


@dataclass(frozen=True)
class SmtpUserSettings:
    """Settings a client chooses for a new SMTP+ user. The defaults are those of a user made in the panel."""

    active: bool = True
    note: str = ""
    priority: int = DEFAULT_PRIORITY
    trusted_domains: tuple = ()
    trusted_senders: tuple = ()


def create_smtp_user(mailing_list, secret=None, user_settings=None):
    """Create the next SMTP+ user of a list's account, `s<console id>_<NN>`; return it and its secret.

    A random secret is made when none is given. Only its hash is stored.
    `user_settings` (SmtpUserSettings) is checked first and raises
    InvalidParameter naming the first bad field, before anything is saved.
    """
    values = clean_smtp_user_settings(user_settings or SmtpUserSettings())
    account = mailing_list.account
    secret = secret or secrets.token_urlsafe(18)
    with transaction.atomic():
        Account.objects.select_for_update().filter(pk=account.pk).first()
        taken = set(SmtpUser.objects.filter(account=account).values_list("username", flat=True))
        number = 1
        while f"s{account.console_id}_{number:02d}" in taken:
            number += 1
        user = SmtpUser(account=account, list=mailing_list, username=f"s{account.console_id}_{number:02d}", **values)
        user.set_password(secret)
        user.save()
    logger.info("smtp user created user=%s account=%s list=%s", user.username, account.console_id, mailing_list.list_id)
    return user, secret


def clean_smtp_user_settings(user_settings):
    """Return SmtpUser field values for `user_settings`, or raise InvalidParameter naming the bad field."""
    if user_settings.priority not in SMTP_PLUS_PRIORITIES:
        raise InvalidParameter("PriorityCode", f"PriorityCode must be 1 to 5, not {user_settings.priority!r}.")
    if len(user_settings.note) > MAX_NOTE_CHARACTERS:
        raise InvalidParameter("Note", f"Note has {len(user_settings.note)} characters, more than the maximum of {MAX_NOTE_CHARACTERS}.")
    if CONTROL_CHARACTERS.search(user_settings.note):
        raise InvalidParameter("Note", "Note must not contain control characters.")
    return {
        "active": user_settings.active,
        "note": user_settings.note,
        "priority": user_settings.priority,
        "trusted_domains": _trusted_entries(user_settings.trusted_domains, "TrustedDomains", _clean_domain, "domain name"),
        "trusted_senders": _trusted_entries(
            user_settings.trusted_senders, "TrustedSenders", _clean_sender, "e-mail address"
        ),
    }


def _trusted_entries(values, name, clean, noun):
    if len(values) > MAX_TRUSTED_ENTRIES:
        raise InvalidParameter(name, f"{name} has {len(values)} entries, more than the maximum of {MAX_TRUSTED_ENTRIES}.")
    cleaned = []
    for position, value in enumerate(values):
        entry = clean(value)
        if entry is None:
            raise InvalidParameter(name, f"{name}[{position}] {value[:80]!r} is not a valid {noun}.")
        cleaned.append(entry)
    return list(dict.fromkeys(cleaned))


def _clean_domain(value):
    domain = value.strip().lower().removesuffix(".")
    return domain if DOMAIN_NAME.match(domain) else None


def _clean_sender(value):
    try:
        return normalize_email(value)
    except InvalidContact:
        return None


def check_trusted_sender(user, address):
    """Raise InvalidField when the user has trusted senders or domains and `address` matches none of them.

    A domain matches the address's own domain only, not its subdomains.
    """
    if not user.trusted_senders and not user.trusted_domains:
        return
    email = (address or "").strip().lower()
    domain = _ascii_domain(email.rpartition("@")[2])
    # An internationalized domain may come in either form (démo.example or
    # xn--dmo-bma.example), so both sides are compared in the ASCII form.
    senders = {_ascii_address(sender) for sender in user.trusted_senders}
    if _ascii_address(email) in senders or (domain and domain in user.trusted_domains):
        return
    logger.info("smtp+ untrusted sender rejected user=%s", user.username)
    raise InvalidField(
        f"The sender {email[:254]!r} is not among the trusted senders or domains of SMTP+ user {user.username}."
    )


def _ascii_domain(domain):
    """Return `domain` in its ASCII form (`xn--…` labels, by Python's IDNA 2003 codec), or unchanged when it cannot be encoded."""
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def _ascii_address(email):
    local_part, at, domain = email.rpartition("@")
    return f"{local_part}{at}{_ascii_domain(domain)}" if at else email


def authenticate(username, secret, client_ip=None, api="smtp+"):
    """Return the active SmtpUser with these credentials, or raise AuthenticationFailed.

    With `client_ip`, a wrong secret counts towards the login lockout of
    lists.login_guard, and a user locked out from that address is rejected
    before any check.
    """
    if not isinstance(username, str) or not isinstance(secret, str) or not SMTP_USERNAME.match(username):
        raise AuthenticationFailed("Authentication failed: the SMTP+ user name or secret is missing or malformed.")
    guard_name = username.lower()
    if client_ip is not None and login_guard.is_locked_out(guard_name, client_ip):
        raise AuthenticationFailed(f"Authentication failed: {login_guard.lockout_message(username)}")

    user = SmtpUser.objects.select_related("account", "list").filter(username=username).first()
    if user is None:
        # Hashing anyway keeps the reply time of an unknown user close to that of a wrong secret.
        make_password(secret)
        valid = False
    else:
        valid = user.check_password(secret)
    if client_ip is not None:
        if valid:
            login_guard.record_success(guard_name, client_ip)
        else:
            login_guard.record_failure(guard_name, client_ip, api)
    if not valid or not user.active or user.account.status != Account.Status.ACTIVE:
        logger.info("smtp+ authentication failed user=%s", username)
        raise AuthenticationFailed("Authentication failed: wrong SMTP+ user name or secret.")
    SmtpUser.objects.filter(pk=user.pk).update(last_used_at=timezone.now())
    return user


# --- Queueing ------------------------------------------------------------------------


def queue_transactional(user, mail_from, recipients, raw, campaign_code="", campaign_name=""):
    """Store a finished message for `recipients` and hand one delivery per address to the relay.

    `raw` is the unsigned MIME message. The sending belongs to a message of
    the user's list named by `campaign_code` (one per code, created on
    first use), so statistics group the sends of one campaign. Recipients
    need no subscription. Returns the Sending. Raises InvalidField when
    `mail_from` is not a trusted sender of the user.
    """
    check_trusted_sender(user, mail_from)
    addresses = list(dict.fromkeys(normalize_email(address) for address in recipients))
    with transaction.atomic():
        message = _campaign_message(user.list, campaign_code, campaign_name)
        now = timezone.now()
        sending = Sending.objects.create(
            message=message,
            list=user.list,
            kind=Sending.Kind.TRANSACTIONAL,
            raw_message=raw,
            smtp_user=user,
            status=Sending.Status.SENDING,
            started_at=now,
            prepared_at=now,
        )
        deliveries = [
            Delivery(sending=sending, recipient=lists_services.find_or_create_recipient(user.account, address), to_email=address)
            for address in addresses
        ]
        Delivery.objects.bulk_create(deliveries)
        ids = list(Delivery.objects.filter(sending=sending).values_list("pk", flat=True))
        transaction.on_commit(lambda: services.enqueue_deliveries(ids), robust=True)

    logger.info(
        "transactional queued sending=%s user=%s from=%s recipients=%s bytes=%s",
        sending.pk,
        user.username,
        mail_from,
        len(addresses),
        len(raw),
    )
    return sending


def _campaign_message(mailing_list, campaign_code, campaign_name):
    code = (campaign_code or campaign_name or "").strip()[:200]
    message = Message.objects.filter(list=mailing_list, campaign_code=code, sendings__kind=Sending.Kind.TRANSACTIONAL).first()
    if message is None:
        subject = campaign_name or campaign_code or "Transactional"
        message = Message.objects.create(list=mailing_list, subject=subject[:500], campaign_code=code, tracking=False)
    return message


# --- The v2.0 MessageDTO -----------------------------------------------------------------


@dataclass
class Outgoing:
    """A MessageDTO turned into a MIME message and its envelope."""

    message: EmailMessage
    mail_from: str
    recipients: list = field(default_factory=list)
    campaign_code: str = ""
    campaign_name: str = ""


def send_message_dto(body, auth_header=None, template_id=None, client_ip=None):
    """Authenticate, validate and queue one MessageDTO; return the Sending.

    `body` is the decoded JSON object, `auth_header` the value of an
    `Authorization: SMTP+ base64(user:secret)` header, if any. With
    `template_id` (sendtemplate), the subject and HTML come from that
    message of the user's list unless the body gives them. With
    `client_ip`, a wrong secret counts towards the login lockout. Raises a
    TransactionalError subclass for every rejected request.
    """
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object (MessageDTO).")
    user = authenticate(*_credentials(body, auth_header), client_ip=client_ip, api="transactional")
    template = _template(user, template_id) if template_id is not None else None
    outgoing = build_message(body, template)
    return queue_transactional(
        user,
        outgoing.mail_from,
        outgoing.recipients,
        outgoing.message.as_bytes(policy=MESSAGE_POLICY),
        outgoing.campaign_code,
        outgoing.campaign_name,
    )


def _credentials(body, auth_header):
    """Return (username, secret) from the User object, the SMTP+ header, or both when they agree."""
    from_body = None
    user = body.get("User")
    if user is not None:
        if not isinstance(user, dict):
            raise InvalidField("User must be an object with Username and Secret.")
        from_body = (user.get("Username"), user.get("Secret"))

    from_header = _header_credentials(auth_header) if auth_header else None
    if from_body and from_header and from_body != from_header:
        raise AuthenticationFailed("Authentication failed: User and the Authorization header name different credentials.")
    credentials = from_body or from_header
    if credentials is None:
        raise AuthenticationFailed("Authentication failed: give User.Username and User.Secret, or an SMTP+ Authorization header.")
    return credentials


def _header_credentials(value):
    scheme, _, token = value.strip().partition(" ")
    if scheme.upper() != "SMTP+":
        raise AuthenticationFailed("Authentication failed: the Authorization header must be SMTP+ base64(user:secret).")
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthenticationFailed("Authentication failed: the SMTP+ Authorization value is not valid Base64 text.") from None
    username, separator, secret = decoded.partition(":")
    if not separator:
        raise AuthenticationFailed("Authentication failed: the SMTP+ Authorization value must be user:secret.")
    return username, secret


def _template(user, template_id):
    if isinstance(template_id, bool) or not isinstance(template_id, (int, str)) or not (str(template_id).isascii() and str(template_id).isdigit()):
        raise InvalidField("TemplateId must be the integer id of a message of the SMTP+ user's list.")
    template = Message.objects.filter(pk=int(template_id), list=user.list).first()
    if template is None:
        raise TemplateNotFound(f"Template {template_id} not found on list {user.list.list_id}.")
    return template


def build_message(body, template=None):
    """Build the MIME message and envelope of a MessageDTO; raise InvalidField naming the first bad key."""
    sender = _address(body.get("From"), "From")
    to = _addresses(body.get("To"), "To", required=True)
    cc = _addresses(body.get("Cc"), "Cc")
    bcc = _addresses(body.get("Bcc"), "Bcc")
    recipients = [address.addr_spec for address in [*to, *cc, *bcc]]
    if len(recipients) > MAX_RECIPIENTS:
        raise InvalidField(f"To, Cc and Bcc name {len(recipients)} addresses; the limit is {MAX_RECIPIENTS}.")

    smtp_api = _object(body.get("XSmtpAPI"), "XSmtpAPI")
    dynamic = _dynamic_fields(smtp_api.get("DynamicFields"))
    campaign_code, campaign_name = campaign_names(smtp_api, "XSmtpAPI")
    attachments = _files(body.get("Attachments"), "Attachments")
    embedded = _files(body.get("EmbeddedImages"), "EmbeddedImages")
    subject, html, text = _content(body, template, dynamic, attachments)

    message = EmailMessage(policy=MESSAGE_POLICY)
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = subject
    _reply_to(message, body.get("ReplyTo"))
    _extended_headers(message, body.get("ExtendedHeaders"))
    _set_body(message, html, text, attachments, embedded)
    return Outgoing(
        message=message,
        mail_from=sender.addr_spec,
        recipients=recipients,
        campaign_code=campaign_code,
        campaign_name=campaign_name,
    )


def campaign_names(smtp_api, key):
    """Return the (CampaignCode, CampaignName) of an XSmtpAPI object, or raise InvalidField naming `key`."""
    return (
        _text(smtp_api.get("CampaignCode"), f"{key}.CampaignCode", 200),
        _text(smtp_api.get("CampaignName"), f"{key}.CampaignName", 200),
    )


def _content(body, template, dynamic, attachments):
    subject = _text(body.get("Subject"), "Subject", MAX_SUBJECT_CHARACTERS) or (template.subject if template else "")
    html = _html(body.get("Html")) or (template.html if template else "")
    text = _text(body.get("Text"), "Text", None) or (template.text if template else "")
    if not subject.strip():
        raise InvalidField("Subject is missing.")
    if not html.strip() and not text.strip():
        raise InvalidField("Html.Body or Text is required.")

    names = [name for name, _content_type, _data in attachments]
    html = _fill(html, dynamic, names, escape_values=True)
    text = _fill(text or html_to_text(html), dynamic, names, escape_values=False)
    subject = " ".join(_fill(subject, dynamic, names, escape_values=False).split())
    return subject, html, text


def _fill(content, dynamic, attachment_names, escape_values):
    """Replace `[Name]` tags by DynamicFields values and `[attachN]` by the name of attachment N."""

    def attachment(match):
        number = int(match.group(1))
        if not 1 <= number <= len(attachment_names):
            return match.group(0)
        name = attachment_names[number - 1]
        return escape(name) if escape_values else name

    content = ATTACH_PLACEHOLDER.sub(attachment, content)
    for name, value in dynamic.items():
        pattern = re.compile(re.escape(f"[{name}]"), re.IGNORECASE)
        content = pattern.sub(lambda _match, value=value: escape(value) if escape_values else value, content)
    return content


def _html(value):
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        return value
    html = _object(value, "Html")
    parts = {key: _text(html.get(key), f"Html.{key}", None) for key in ("DocType", "Head", "Body", "BodyTag")}
    if not parts["Body"].strip():
        return ""
    body_tag = parts["BodyTag"].strip() or "<body>"
    if not body_tag.lower().startswith("<body"):
        raise InvalidField("Html.BodyTag must be an opening <body> tag.")
    return f"{parts['DocType']}<html><head>{parts['Head']}</head>{body_tag}{parts['Body']}</body></html>"


def _set_body(message, html, text, attachments, embedded):
    message.set_content(text)
    if html.strip():
        message.add_alternative(html, subtype="html")
        html_part = message.get_payload()[-1]
        for filename, content_type, data, content_id in embedded:
            maintype, _, subtype = content_type.partition("/")
            html_part.add_related(data, maintype=maintype, subtype=subtype, cid=f"<{content_id}>", filename=filename)
    for filename, content_type, data in attachments:
        maintype, _, subtype = content_type.partition("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)


def _reply_to(message, value):
    if value in (None, ""):
        return
    text = _text(value, "ReplyTo", 500)
    # getaddresses() would silently read "a\r\nBcc: b@x.y" as a group holding b@x.y.
    if len(text.splitlines()) > 1:
        raise InvalidField("ReplyTo contains a line break.")
    addresses = getaddresses([text])
    if not addresses or not all(_valid_email(address) for _name, address in addresses):
        raise InvalidField("ReplyTo must be an e-mail address.")
    message["Reply-To"] = ", ".join(formataddr(pair) for pair in addresses)


def _extended_headers(message, value):
    for position, item in enumerate(_list(value, "ExtendedHeaders"), 1):
        header = _object(item, f"ExtendedHeaders[{position}]")
        name = _text(header.get("N"), f"ExtendedHeaders[{position}].N", 76)
        header_value = _text(header.get("V"), f"ExtendedHeaders[{position}].V", 998)
        # The email package rejects any value that str.splitlines() splits, which includes
        # \v, \f, U+0085, U+2028 and U+2029 as well as CR and LF.
        if not HEADER_NAME.match(name) or len(header_value.splitlines()) > 1:
            raise InvalidField(f"ExtendedHeaders[{position}] has an invalid header name or a line break in its value.")
        if name.lower() in RESERVED_HEADERS:
            raise InvalidField(f"ExtendedHeaders[{position}] may not set {name}; use the MessageDTO key for it.")
        message[name] = header_value


def _address(value, key):
    item = _object(value, key)
    email = _text(item.get("Email"), f"{key}.Email", 254)
    if not _valid_email(email):
        raise InvalidField(f"{key}.Email {email[:80]!r} is not a valid e-mail address.")
    name = _text(item.get("Name"), f"{key}.Name", 200)
    if "\r" in name or "\n" in name:
        raise InvalidField(f"{key}.Name contains a line break.")
    local, _, domain = normalize_email(email).rpartition("@")
    return Address(display_name=name, username=local, domain=domain)


def _addresses(value, key, required=False):
    items = _list(value, key)
    if required and not items:
        raise InvalidField(f"{key} must name at least one recipient.")
    return [_address(item, f"{key}[{position}]") for position, item in enumerate(items, 1)]


def _files(value, key):
    """Decode Attachments or EmbeddedImages into (filename, content type, bytes[, content id]) tuples."""
    files = []
    total = 0
    for position, item in enumerate(_list(value, key), 1):
        entry = _object(item, f"{key}[{position}]")
        try:
            filename = services.clean_filename(_text(entry.get("Filename"), f"{key}[{position}].Filename", 255))
        except ValueError:
            raise InvalidField(f"{key}[{position}].Filename is missing.") from None
        try:
            data = base64.b64decode(_text(entry.get("Body"), f"{key}[{position}].Body", None), validate=True)
        except binascii.Error:
            raise InvalidField(f"{key}[{position}].Body is not valid Base64.") from None
        total += len(data)
        if total > settings.MESSAGE_ATTACHMENTS_MAX_BYTES:
            raise MessageTooLarge(f"{key} carry more than {settings.MESSAGE_ATTACHMENTS_MAX_BYTES} bytes.")
        content_type = services.guess_content_type(filename)
        if key == "EmbeddedImages":
            content_id = _text(entry.get("ContentId"), f"{key}[{position}].ContentId", 200).strip("<>") or filename
            if not CONTENT_ID.fullmatch(content_id):
                raise InvalidField(f"{key}[{position}].ContentId is not a valid Content-ID.")
            files.append((filename, content_type, data, content_id))
        else:
            files.append((filename, content_type, data))
    return files


def _dynamic_fields(value):
    fields = {}
    for position, item in enumerate(_list(value, "XSmtpAPI.DynamicFields"), 1):
        entry = _object(item, f"XSmtpAPI.DynamicFields[{position}]")
        name = _text(entry.get("N"), f"XSmtpAPI.DynamicFields[{position}].N", 100)
        if name:
            fields[name] = _text(entry.get("V"), f"XSmtpAPI.DynamicFields[{position}].V", 2000)
    return fields


def is_valid_address(email):
    return _valid_email(email)


def _valid_email(email):
    try:
        return bool(email) and normalize_email(email) is not None
    except InvalidContact:
        return False


def _object(value, key):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidField(f"{key} must be an object.")
    return value


def _list(value, key):
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidField(f"{key} must be an array.")
    return value


def _text(value, key, max_length):
    """Return a string value ("" for null), or raise InvalidField for another type or a longer string."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidField(f"{key} must be a string.")
    if "\x00" in value:
        raise InvalidField(f"{key} contains a NUL character.")
    if max_length is not None and len(value) > max_length:
        raise InvalidField(f"{key} is longer than {max_length} characters.")
    return value
