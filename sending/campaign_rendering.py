"""Rendering of campaign deliveries into signed MIME messages.

A `Campaign` contains what every delivery of one sending shares (message,
list, field names, DKIM keys), so a batch loads it once. `render_delivery`
then merges one recipient's values and returns the signed bytes.
"""

import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from django.conf import settings
from django.utils import timezone
from django.utils.crypto import salted_hmac

from lists import services as lists_services
from sending import dkim_signing, mime_template
from sending.html_text import html_to_text
from sending.merge_tags import field_values, merge
from sending.rendering import MESSAGE_POLICY

MAILTO_SALT = "sending.list-unsubscribe-mailto"
# MailUp's editor writes link targets as http://[unsubscribe]/ and tracked
# links as http://[track]/https://…; the prefix is replaced as a whole.
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
    template: object = None

    @property
    def signing_domain(self):
        # The domain of the From address, so the signature aligns with it.
        sender_email = self.sending.sender_email or self.list.sender_email
        return sender_email.rpartition("@")[2].lower()


def load_campaign(sending):
    """Load what every delivery of `sending` needs, creating the account's DKIM keys on first use."""
    mailing_list = sending.list
    account = mailing_list.account
    campaign = Campaign(
        sending=sending,
        message=sending.message,
        list=mailing_list,
        account=account,
        field_names=dict(account.field_definitions.values_list("field_id", "name")),
        keys=dkim_signing.account_keys(account),
    )
    campaign.template = _build_template(campaign)
    return campaign


def _build_template(campaign):
    source = campaign.message
    return mime_template.build(
        subject=source.subject,
        text=source.text or html_to_text(source.html),
        html=source.html,
        preheader=source.preheader,
        shared_headers=_shared_headers(campaign),
    )


def _shared_headers(campaign):
    """Return the (name, value) headers that every delivery of the campaign carries."""
    mailing_list = campaign.list
    headers = [("From", formataddr((mailing_list.sender_name, mailing_list.sender_email)))]
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
    values = merge_values(campaign, delivery)
    raw = mime_template.fill(campaign.template, values, _own_headers(campaign, delivery, values), _insert_preheader)
    if raw is None:
        raw = _build_message(campaign, delivery, values)
    return dkim_signing.sign(raw, campaign.signing_domain, campaign.keys)


def _build_message(campaign, delivery, values):
    """Return the message built by the email package, for what the template cannot fill."""
    source = campaign.message
    html = merge(source.html, values, escape_values=True)
    text = merge(source.text or html_to_text(source.html), values, escape_values=False)
    if source.preheader:
        html = _insert_preheader(html, merge(source.preheader, values, escape_values=True))
    subject = " ".join(merge(source.subject, values, escape_values=False).split())

    message = EmailMessage(policy=MESSAGE_POLICY)
    _set_headers(message, campaign, delivery, subject, values)
    message.set_content(text)
    if html.strip():
        message.add_alternative(html, subtype="html")
    return message.as_bytes()


def merge_values(campaign, delivery):
    """Map each lower-case merge tag name to its value for this delivery's recipient."""
    recipient = delivery.recipient
    unsubscribe_url = lists_services.optout_url(recipient, campaign.list, campaign.message.pk)
    values = {
        "email": recipient.email or "",
        "prefix": recipient.mobile_prefix,
        "unsubscribe": unsubscribe_url,
        "listunsubscribe": unsubscribe_url,
        "mailto_uns": mailto_unsubscribe(delivery),
        "host": campaign.account.console_host,
    }
    values.update(field_values(recipient, campaign.field_names))
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
    sending = campaign.sending
    sender = (sending.sender_name or mailing_list.sender_name, sending.sender_email or mailing_list.sender_email)
    message["From"] = formataddr(sender)
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
