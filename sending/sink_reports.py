"""Reports the sink sends back to the platform's inbound MX, as a receiving ISP would.

- `delivery_status_notification`: a DSN (RFC 3464) to the envelope sender,
  from the null sender, with the original message's headers.
- `feedback_report`: an ARF complaint (RFC 5965) to the feedback-loop
  address, with the original message.
- `auto_reply`: an out-of-office reply (RFC 3834) to the envelope sender.
"""

import logging
import smtplib
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser
from email.utils import format_datetime, make_msgid

from django.conf import settings
from django.utils import timezone

logger = logging.getLogger(__name__)

REPORTING_MTA = "sink.mailup-sim.localhost"
FEEDBACK_LOOP_LOCAL_PART = "fbl"
POLICY = policy.SMTP


def delivery_status_notification(original, mail_from, recipient, decision):
    """Return the bytes of a failure DSN for one recipient of `original`."""
    report = EmailMessage(policy=POLICY)
    report["From"] = f"Mail Delivery System <MAILER-DAEMON@{REPORTING_MTA}>"
    report["To"] = mail_from
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Date"] = format_datetime(timezone.now())
    report["Message-ID"] = make_msgid(domain=REPORTING_MTA)
    report["Auto-Submitted"] = "auto-replied"
    report.set_content(
        f"This is the mail system at host {REPORTING_MTA}.\n\n"
        f"Your message could not be delivered to one or more recipients.\n\n"
        f"<{recipient}>: host {recipient.rpartition('@')[2]} said: {decision.reply}\n"
    )
    report.make_mixed()
    report.set_type("multipart/report")
    report.set_param("report-type", "delivery-status")
    report.attach(_delivery_status_part(recipient, decision))
    report.attach(_headers_part(original))
    return report.as_bytes()


def _delivery_status_part(recipient, decision):
    per_message = Message()
    per_message["Reporting-MTA"] = f"dns; {REPORTING_MTA}"
    per_message["Arrival-Date"] = format_datetime(timezone.now())
    per_recipient = Message()
    per_recipient["Final-Recipient"] = f"rfc822; {recipient}"
    per_recipient["Action"] = "failed"
    per_recipient["Status"] = decision.enhanced_status
    per_recipient["Remote-MTA"] = f"dns; {recipient.rpartition('@')[2]}"
    per_recipient["Diagnostic-Code"] = f"smtp; {decision.reply}"
    part = Message()
    part.set_type("message/delivery-status")
    part.set_payload([per_message, per_recipient])
    return part


def _headers_part(original):
    """Return the original's header block as sent; mail headers are ASCII, and other bytes become '?'."""
    header_block = original.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    part = Message()
    part.set_type("text/rfc822-headers")
    part.set_payload(header_block.decode("ascii", "replace").replace("\ufffd", "?") + "\n")
    return part


def feedback_report(original, recipient, source_ip):
    """Return the bytes of an ARF abuse report about `original`, as a mailbox provider's feedback loop sends it."""
    report = EmailMessage(policy=POLICY)
    report["From"] = f"Feedback Loop <fbl@{recipient.rpartition('@')[2]}>"
    report["To"] = feedback_loop_address()
    report["Subject"] = "Abuse report"
    report["Date"] = format_datetime(timezone.now())
    report["Message-ID"] = make_msgid(domain=REPORTING_MTA)
    report.set_content(f"This is an abuse report for a message sent to {recipient}.\n")
    report.make_mixed()
    report.set_type("multipart/report")
    report.set_param("report-type", "feedback-report")

    fields = Message()
    fields.set_type("message/feedback-report")
    fields.set_payload(
        "Feedback-Type: abuse\n"
        "User-Agent: mailup-sim-sink/1.0\n"
        "Version: 1\n"
        f"Original-Rcpt-To: {recipient}\n"
        f"Source-IP: {source_ip}\n"
        f"Arrival-Date: {format_datetime(timezone.now())}\n"
    )
    report.attach(fields)
    copy = Message()
    copy.set_type("message/rfc822")
    copy.set_payload([BytesParser(policy=POLICY).parsebytes(original)])
    report.attach(copy)
    return report.as_bytes()


def auto_reply(original, mail_from, recipient, decision):
    """Return the bytes of an out-of-office reply from `recipient` to the envelope sender."""
    headers = BytesHeaderParser(policy=POLICY).parsebytes(original)
    reply = EmailMessage(policy=POLICY)
    reply["From"] = recipient
    reply["To"] = mail_from
    reply["Subject"] = f"Automatic reply: {headers.get('Subject', '')}"
    reply["Date"] = format_datetime(timezone.now())
    reply["Message-ID"] = make_msgid(domain=recipient.rpartition("@")[2] or REPORTING_MTA)
    reply["Auto-Submitted"] = "auto-replied"
    if headers.get("Message-ID"):
        reply["In-Reply-To"] = headers["Message-ID"]
        reply["References"] = headers["Message-ID"]
    reply.set_content(decision.message or "I am away and will answer when I return.")
    return reply.as_bytes()


def feedback_loop_address():
    return f"{FEEDBACK_LOOP_LOCAL_PART}@{settings.BOUNCE_DOMAIN}"


def send_to_inbound_mx(envelope_from, envelope_to, message_bytes):
    """Hand a report to the inbound MX; log and drop it when the inbound MX cannot be reached."""
    try:
        with smtplib.SMTP(
            settings.INBOUND_MX_HOST,
            settings.INBOUND_MX_PORT,
            timeout=settings.SMTP_TIMEOUT_SECONDS,
            local_hostname=REPORTING_MTA,
        ) as client:
            client.sendmail(envelope_from, [envelope_to], message_bytes)
    except (smtplib.SMTPException, OSError) as error:
        logger.error(
            "sink report not delivered to inbound MX %s:%s to=%s: %s",
            settings.INBOUND_MX_HOST,
            settings.INBOUND_MX_PORT,
            envelope_to,
            error,
        )
        return False
    return True
