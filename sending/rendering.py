"""Rendering of system mail into MIME messages, in the list's language."""

from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.html import strip_tags
from django.utils.translation import gettext, gettext_noop

from lists import services as lists_services
from sending.merge_tags import field_values, merge
from sending.models import SystemMail

Kind = SystemMail.Kind

# Subjects used when the list has none of its own; translated at render time.
DEFAULT_SUBJECTS = {
    Kind.CONFIRMATION_REQUEST: gettext_noop("Please confirm your subscription to %(list)s"),
    Kind.WELCOME: gettext_noop("Welcome to %(list)s"),
    Kind.UNSUBSCRIBE_CONFIRMATION: gettext_noop("You have been unsubscribed from %(list)s"),
    Kind.TRIAL_ACTIVATION: gettext_noop("Activate your MailUp trial console"),
}
# The email package folds headers longer than 78 characters, and turns a
# long URL without spaces into RFC 2047 encoded words, which breaks
# List-Unsubscribe. RFC 5322 allows lines of up to 998 characters.
MESSAGE_POLICY = policy.SMTP.clone(max_line_length=998)


def return_path(mail):
    """Envelope sender naming the mail, so a bounce can be traced back to it."""
    return f"sys-{mail.pk}@{settings.BOUNCE_DOMAIN}"


def render_system_mail(mail):
    """Build the EmailMessage for a SystemMail, with text and HTML parts."""
    if mail.kind == Kind.TRIAL_ACTIVATION:
        return _render_platform_mail(mail)

    mailing_list = mail.list
    with translation.override(mail.language):
        context = _template_context(mail)
        subject, html = _custom_content(mail, context)
        if html is None:
            subject = gettext(DEFAULT_SUBJECTS[mail.kind]) % {"list": mailing_list.name}
            html = render_to_string(f"emails/{mail.kind}.html", context)
            text = render_to_string(f"emails/{mail.kind}.txt", context)
        else:
            text = strip_tags(html)

    message = EmailMessage()
    _set_headers(message, mail, subject, context)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def _render_platform_mail(mail):
    """Build a mail that the platform sends for itself, from PLATFORM_MAIL_FROM and with no console headers."""
    with translation.override(mail.language):
        subject = gettext(DEFAULT_SUBJECTS[mail.kind])
        html = render_to_string(f"emails/{mail.kind}.html", mail.context)
        text = render_to_string(f"emails/{mail.kind}.txt", mail.context)

    message = EmailMessage()
    message["From"] = settings.PLATFORM_MAIL_FROM
    message["To"] = mail.to_email
    message["Subject"] = subject
    message["Date"] = format_datetime(timezone.now())
    message["Message-ID"] = make_msgid(idstring=f"sys{mail.pk}", domain=settings.BOUNCE_DOMAIN)
    message["X-MailupSim-Kind"] = mail.kind
    message["X-MailupSim-Mail-Id"] = str(mail.pk)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def _template_context(mail):
    mailing_list = mail.list
    origin = lists_services.console_origin(mail.account)
    context = {
        "list_name": mailing_list.name,
        "email": mail.to_email,
        "sender_name": mailing_list.sender_name,
        "unsubscribe_url": lists_services.optout_url(mail.recipient, mailing_list, message_id=0),
    }
    if mail.kind == Kind.CONFIRMATION_REQUEST:
        context["confirm_url"] = f"{origin}/frontend/confirm.aspx?code={mail.context['token']}"
        context["valid_hours"] = mailing_list.confirmation_link_hours
    return context


def _custom_content(mail, context):
    """Return the list's own (subject, html) for this kind of mail, or (None, None) when it has none."""
    prefix = {
        Kind.CONFIRMATION_REQUEST: "confirmation",
        Kind.WELCOME: "welcome",
        Kind.UNSUBSCRIBE_CONFIRMATION: "unsubscribe",
    }[mail.kind]
    html = getattr(mail.list, f"{prefix}_html")
    if not html.strip():
        return None, None

    subject = getattr(mail.list, f"{prefix}_subject") or gettext(DEFAULT_SUBJECTS[mail.kind]) % {
        "list": mail.list.name
    }
    values = _merge_values(mail, context)
    return merge(subject, values, escape_values=False), merge(html, values, escape_values=True)


def _merge_values(mail, context):
    recipient = mail.recipient
    values = {
        "email": recipient.email or "",
        "prefix": recipient.mobile_prefix,
        "listname": mail.list.name,
        "unsubscribe": context["unsubscribe_url"],
    }
    if "confirm_url" in context:
        values["confirmlink"] = context["confirm_url"]

    names = dict(mail.account.field_definitions.values_list("field_id", "name"))
    values.update(field_values(recipient, names))
    return values


def _set_headers(message, mail, subject, context):
    mailing_list = mail.list
    host = mail.account.console_host
    list_sender = formataddr((mailing_list.sender_name, mailing_list.sender_email))
    if mail.from_email:
        # A Dynsndmail override keeps the list as Sender, so mail clients
        # show "on behalf of".
        message["From"] = formataddr((mail.from_name, mail.from_email))
        message["Sender"] = list_sender
    else:
        message["From"] = list_sender
    message["To"] = mail.to_email
    message["Subject"] = subject
    message["Date"] = format_datetime(timezone.now())
    message["Message-ID"] = make_msgid(idstring=f"sys{mail.pk}", domain=host)
    if mailing_list.reply_to:
        message["Reply-To"] = mailing_list.reply_to
    if mail.kind == Kind.WELCOME:
        message["List-Unsubscribe"] = f"<{context['unsubscribe_url']}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["X-MailupSim-Account"] = str(mail.account.console_id)
    message["X-MailupSim-List"] = str(mailing_list.list_id)
    message["X-MailupSim-Kind"] = mail.kind
    message["X-MailupSim-Mail-Id"] = str(mail.pk)
