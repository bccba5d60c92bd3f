"""SMTP client side: hands a finished message to the next hop (the sink)."""

import smtplib
import socket

from django.conf import settings


class DeliveryError(Exception):
    """A failed SMTP hand-over; `permanent` is True for 5xx answers, which retrying cannot fix."""

    def __init__(self, message, permanent, smtp_code=None):
        super().__init__(message)
        self.permanent = permanent
        self.smtp_code = smtp_code


def send_message(message_bytes, mail_from, recipients, source_ip):
    """Send one message over SMTP from `source_ip`; raise DeliveryError on any failure."""
    try:
        with smtplib.SMTP(
            settings.SINK_SMTP_HOST,
            settings.SINK_SMTP_PORT,
            timeout=settings.SMTP_TIMEOUT_SECONDS,
            source_address=(source_ip, 0),
            local_hostname="mailup-sim.localhost",
        ) as client:
            refused = client.sendmail(mail_from, recipients, message_bytes)
    except smtplib.SMTPRecipientsRefused as error:
        code, reply = next(iter(error.recipients.values()))
        raise _from_reply(code, reply) from error
    except smtplib.SMTPResponseException as error:
        raise _from_reply(error.smtp_code, error.smtp_error) from error
    except (smtplib.SMTPException, OSError, socket.timeout) as error:
        # Refused or dropped connections and time-outs are the next hop's
        # temporary trouble, as for any MTA.
        raise DeliveryError(f"SMTP connection to {settings.SINK_SMTP_HOST}:{settings.SINK_SMTP_PORT} failed: {error}", permanent=False) from error

    if refused:
        code, reply = next(iter(refused.values()))
        raise _from_reply(code, reply)


def _from_reply(code, reply):
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return DeliveryError(f"{code} {text}", permanent=500 <= code < 600, smtp_code=code)
