"""Rendering of campaign deliveries into signed MIME messages.

A `Campaign` contains what every delivery of one sending shares (message,
list, field names, DKIM keys, attachments and the MIME template with its
tracked links), so a batch loads it once. `render_delivery` then fills in
one recipient's values, the tracking token among them, and returns the
bytes signed for that delivery.
"""

import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from django.conf import settings
from django.utils import timezone
from django.utils.crypto import salted_hmac

from lists import services as lists_services
from sending import dkim_signing, mime_template, tracking
from sending.html_text import html_to_text
from sending.merge_tags import field_values, merge
from sending.models import Sending
from sending.rendering import MESSAGE_POLICY

MAILTO_SALT = "sending.list-unsubscribe-mailto"
# Headers of a transactional message that each delivery replaces, or that
# must not travel: Bcc would show every hidden recipient.
TRANSACTIONAL_REPLACED_HEADERS = {
    b"message-id", b"bcc", b"return-path", b"dkim-signature", b"x-mailupsim-account", b"x-mailupsim-list",
    b"x-mailupsim-sending", b"x-mailupsim-delivery", b"x-smtpapi",
}
PREHEADER_STYLE = "display:none;max-height:0;overflow:hidden;mso-hide:all"
BODY_OPEN_TAG = re.compile(r"<body[^>]*>", re.IGNORECASE)


@dataclass
class Campaign:
    sending: object
    message: object
    list: object
    account: object
    field_names: dict
    keys: list
    # Scheme, console host and port of tracking URLs.
    origin: str = ""
    # {url: number} of the tracked links; empty when tracking is off.
    links: dict = field(default_factory=dict)
    # (filename, content type, bytes) of each attachment.
    attachments: list = field(default_factory=list)
    # The HTML and text parts with tracked links already rewritten and the
    # open pixel added; the delivery's tracking token is a merge tag in them.
    html: str = ""
    text: str = ""
    # None for a transactional sending, whose message comes finished.
    template: object = None

    @property
    def signing_domain(self):
        return self.list.sender_email.rpartition("@")[2].lower()


def load_campaign(sending):
    """Load what every delivery of `sending` needs, creating the account's DKIM keys on first use.

    A campaign also gets its tracked links stored and its MIME template
    built here, once per batch. A transactional sending needs neither,
    because its message comes finished.
    """
    mailing_list = sending.list
    account = mailing_list.account
    message = sending.message
    campaign = Campaign(
        sending=sending,
        message=message,
        list=mailing_list,
        account=account,
        field_names=dict(account.field_definitions.values_list("field_id", "name")),
        keys=dkim_signing.account_keys(account),
    )
    if sending.kind == Sending.Kind.TRANSACTIONAL:
        return campaign

    campaign.origin = lists_services.console_origin(account)
    campaign.links = tracking.message_links(message) if message.tracking else {}
    campaign.attachments = load_attachments(message)
    campaign.html, campaign.text = _tracked_bodies(campaign)
    campaign.template = _build_template(campaign)
    return campaign


def _tracked_bodies(campaign):
    """Return the HTML and text parts with tracked links turned into click redirects and the open pixel added.

    The redirect and pixel URLs carry the tracking token as a merge tag,
    so this runs once per campaign and each delivery fills its own token
    like any other tag. With tracking off both parts stay as written.
    """
    source = campaign.message
    html = source.html
    text = source.text or html_to_text(source.html)
    if not source.tracking:
        return html, text
    html = tracking.rewrite_html(html, campaign.links, campaign.origin)
    text = tracking.rewrite_text(text, campaign.links, campaign.origin)
    if html.strip():
        html = tracking.add_open_pixel(html, campaign.origin)
    return html, text


def _build_template(campaign):
    source = campaign.message
    return mime_template.build(
        subject=source.subject,
        text=campaign.text,
        html=campaign.html,
        preheader=source.preheader,
        shared_headers=_shared_headers(campaign),
        attachments=campaign.attachments,
    )


def sender_header(campaign):
    """Return the From header: the sending's own sender when it has one, else the list's."""
    sending, mailing_list = campaign.sending, campaign.list
    return formataddr((sending.from_name or mailing_list.sender_name, sending.from_email or mailing_list.sender_email))


def _shared_headers(campaign):
    """Return the (name, value) headers that every delivery of the campaign carries."""
    mailing_list = campaign.list
    headers = [("From", sender_header(campaign))]
    if mailing_list.reply_to:
        headers.append(("Reply-To", mailing_list.reply_to))
    headers += [
        ("X-MailUp-Ver", "6"),
        ("X-Abuse", f"Please report abuse here: http://{campaign.account.console_host}/p"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("X-MailupSim-Account", str(campaign.account.console_id)),
        ("X-MailupSim-List", str(mailing_list.list_id)),
        ("X-MailupSim-Sending", str(campaign.sending.pk)),
    ]
    return headers


def _own_headers(campaign, delivery, values):
    """Return the (name, value) headers that differ for each delivery."""
    return [
        ("To", delivery.to_email),
        ("Date", format_datetime(timezone.now())),
        ("Message-ID", message_id(campaign, delivery)),
        ("List-Unsubscribe", f"<{values['listunsubscribe']}>, <{values['mailto_uns']}>"),
        ("X-MailupSim-Delivery", str(delivery.pk)),
    ]


def load_attachments(message):
    """Read every attachment of `message` once, for all the deliveries of a batch."""
    loaded = []
    for attachment in message.attachments.all():
        with attachment.file.open("rb") as stored:
            loaded.append((attachment.filename, attachment.content_type, stored.read()))
    return loaded


def return_path(delivery):
    """Envelope sender (VERP) naming the delivery, so a DSN can be traced back to it."""
    return f"d-{delivery.pk}@{settings.BOUNCE_DOMAIN}"


def message_id(campaign, delivery):
    return f"<d{delivery.pk}.s{campaign.sending.pk}@{campaign.account.console_host}>"


def mailto_unsubscribe(delivery):
    """Return the List-Unsubscribe mailto target, signed so the inbound MX can trust the delivery id in it."""
    signature = salted_hmac(MAILTO_SALT, str(delivery.pk), algorithm="sha256").hexdigest()[:16]
    return f"mailto:u-{delivery.pk}-{signature}@{settings.BOUNCE_DOMAIN}"


def render_delivery(campaign, delivery):
    """Return the signed message for one delivery, as bytes with CRLF line ends."""
    if campaign.sending.kind == Sending.Kind.TRANSACTIONAL:
        return _render_transactional(campaign, delivery)

    values = merge_values(campaign, delivery)
    raw = mime_template.fill(campaign.template, values, _own_headers(campaign, delivery, values), _insert_preheader)
    if raw is None:
        raw = _build_message(campaign, delivery, values)
    return dkim_signing.sign(raw, campaign.signing_domain, campaign.keys)


def _build_message(campaign, delivery, values):
    """Return the message built by the email package, for what the template cannot fill."""
    html = merge(campaign.html, values, escape_values=True)
    text = merge(campaign.text, values, escape_values=False)
    source = campaign.message
    if source.preheader:
        html = _insert_preheader(html, merge(source.preheader, values, escape_values=True))
    subject = " ".join(merge(source.subject, values, escape_values=False).split())

    message = EmailMessage(policy=MESSAGE_POLICY)
    _set_headers(message, campaign, delivery, subject, values)
    message.set_content(text)
    if html.strip():
        message.add_alternative(html, subtype="html")
    _attach(message, campaign.attachments)
    return message.as_bytes()


def _render_transactional(campaign, delivery):
    """Give the caller's finished message this delivery's headers and a signature, leaving its body as it came."""
    raw = bytes(campaign.sending.raw_message)
    if b"\r\n" not in raw:
        raw = raw.replace(b"\n", b"\r\n")
    head, separator, body = raw.partition(b"\r\n\r\n")
    lines = _drop_headers(head.split(b"\r\n"), TRANSACTIONAL_REPLACED_HEADERS)

    added = {
        "Message-ID": message_id(campaign, delivery),
        "X-MailupSim-Account": str(campaign.account.console_id),
        "X-MailupSim-List": str(campaign.list.list_id),
        "X-MailupSim-Sending": str(campaign.sending.pk),
        "X-MailupSim-Delivery": str(delivery.pk),
    }
    if not any(line[:5].lower() == b"date:" for line in lines):
        added["Date"] = format_datetime(timezone.now())
    new_lines = [f"{name}: {value}".encode("ascii") for name, value in added.items()]
    signed_input = b"\r\n".join(new_lines + lines) + (separator or b"\r\n\r\n") + body
    return dkim_signing.sign(signed_input, campaign.signing_domain, campaign.keys)


def _drop_headers(lines, names):
    """Remove the header fields named in `names` (lower-case bytes), folded continuation lines included."""
    kept = []
    dropping = False
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        dropping = line.partition(b":")[0].strip().lower() in names
        if not dropping:
            kept.append(line)
    return kept


def _attach(message, attachments):
    for filename, content_type, content in attachments:
        maintype, _, subtype = content_type.partition("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)


def merge_values(campaign, delivery):
    """Map each lower-case merge tag name to its value for this delivery's recipient, tracking token included."""
    values = recipient_values(campaign.account, campaign.list, campaign.message.pk, campaign.field_names, delivery)
    if campaign.message.tracking:
        # Set after the field values, so that no field named like the tag hides it.
        values[tracking.TOKEN_TAG] = tracking.delivery_token(delivery.pk)
    return values


def recipient_values(account, mailing_list, message_id, field_names, delivery):
    """Map each lower-case merge tag name to its value for a delivery of message `message_id`."""
    recipient = delivery.recipient
    unsubscribe_url = lists_services.optout_url(recipient, mailing_list, message_id)
    values = {
        "email": recipient.email or "",
        "prefix": recipient.mobile_prefix,
        "unsubscribe": unsubscribe_url,
        "listunsubscribe": unsubscribe_url,
        "mailto_uns": mailto_unsubscribe(delivery),
        "host": account.console_host,
    }
    values.update(field_values(recipient, field_names))
    return values


def _insert_preheader(html, preheader):
    block = f'<div style="{PREHEADER_STYLE}">{preheader}</div>'
    opening = BODY_OPEN_TAG.search(html)
    if opening is None:
        return block + html
    return html[: opening.end()] + block + html[opening.end() :]


def _set_headers(message, campaign, delivery, subject, values):
    mailing_list = campaign.list
    account = campaign.account
    message["From"] = sender_header(campaign)
    message["To"] = delivery.to_email
    message["Subject"] = subject
    message["Date"] = format_datetime(timezone.now())
    message["Message-ID"] = message_id(campaign, delivery)
    if mailing_list.reply_to:
        message["Reply-To"] = mailing_list.reply_to
    message["X-MailUp-Ver"] = "6"
    message["X-Abuse"] = f"Please report abuse here: http://{account.console_host}/p"
    message["List-Unsubscribe"] = f"<{values['listunsubscribe']}>, <{values['mailto_uns']}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["X-MailupSim-Account"] = str(account.console_id)
    message["X-MailupSim-List"] = str(mailing_list.list_id)
    message["X-MailupSim-Sending"] = str(campaign.sending.pk)
    message["X-MailupSim-Delivery"] = str(delivery.pk)
