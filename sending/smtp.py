"""SMTP client side: hands a finished message to the next hop (the sink)."""

import smtplib
import socket

from django.conf import settings


class DeliveryError(Exception):
    """A failed SMTP hand-over; `permanent` is True for 5xx replies, which retrying cannot fix."""

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
        raise _from_reply(code, reply, "RCPT TO") from error
    except smtplib.SMTPResponseException as error:
        raise _from_reply(error.smtp_code, error.smtp_error, _command_of(error)) from error
    except (smtplib.SMTPException, OSError, socket.timeout) as error:
        # Refused or dropped connections and time-outs are the next hop's
        # temporary trouble, as for any MTA.
        raise DeliveryError(f"SMTP connection to {settings.SINK_SMTP_HOST}:{settings.SINK_SMTP_PORT} failed: {error}", permanent=False) from error

    if refused:
        code, reply = next(iter(refused.values()))
        raise _from_reply(code, reply, "RCPT TO")


def _from_reply(code, reply, command=None):
    """Build the DeliveryError for a reply, naming the command it replied to as Postfix does, so the bounce rules can read it."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    if command:
        text = f"{text} (in reply to {command} command)"
    return DeliveryError(f"{code} {text}", permanent=500 <= code < 600, smtp_code=code)


def _command_of(error):
    """Return the SMTP command that an smtplib reply exception replied to, or None when smtplib does not say."""
    if isinstance(error, smtplib.SMTPSenderRefused):
        return "MAIL FROM"
    if isinstance(error, smtplib.SMTPDataError):
        return "end of DATA"
    return None


class Connection:
    """One SMTP session from `source_ip` to the next hop, reused for many messages.

    It connects on the first `send`. After a failed connect, every later
    `send` raises the same temporary error at once, so a batch aimed at a
    dead next hop does not wait for one time-out per message. With
    `max_messages`, the session ends after that many messages and the next
    `send` opens a new one.
    """

    def __init__(self, source_ip, max_messages=None):
        self.source_ip = source_ip
        self.max_messages = max_messages
        self.client = None
        self.connect_error = None
        self.sent_in_session = 0

    def send(self, message_bytes, mail_from, recipient):
        """Send one message to one recipient; raise DeliveryError on any failure."""
        if self.max_messages and self.sent_in_session >= self.max_messages:
            self.close()
        client = self._client()
        try:
            _transfer(client, message_bytes, mail_from, recipient)
        except smtplib.SMTPRecipientsRefused as error:
            code, reply = next(iter(error.recipients.values()))
            self._drop_after(code)
            raise _from_reply(code, reply, "RCPT TO") from error
        except smtplib.SMTPResponseException as error:
            self._drop_after(error.smtp_code)
            raise _from_reply(error.smtp_code, error.smtp_error, _command_of(error)) from error
        except (smtplib.SMTPException, OSError) as error:
            # The session is broken; the next message opens a new one.
            self._drop()
            raise DeliveryError(f"SMTP session from {self.source_ip} broke: {error}", permanent=False) from error
        self.sent_in_session += 1

    def _drop_after(self, code):
        # 421 means the server is closing the session (RFC 5321 section 3.8).
        if code == 421:
            self._drop()

    def _client(self):
        if self.connect_error is not None:
            raise self.connect_error
        if self.client is not None:
            return self.client
        try:
            self.client = smtplib.SMTP(
                settings.SINK_SMTP_HOST,
                settings.SINK_SMTP_PORT,
                timeout=settings.SMTP_TIMEOUT_SECONDS,
                source_address=(self.source_ip, 0),
                local_hostname="mailup-sim.localhost",
            )
        except (smtplib.SMTPException, OSError) as error:
            target = f"{settings.SINK_SMTP_HOST}:{settings.SINK_SMTP_PORT}"
            self.connect_error = DeliveryError(f"SMTP connection to {target} from {self.source_ip} failed: {error}", permanent=False)
            raise self.connect_error from error
        return self.client

    def _drop(self):
        self.sent_in_session = 0
        if self.client is not None:
            try:
                self.client.close()
            finally:
                self.client = None

    def close(self):
        """End the session politely; errors on the way out do not matter any more."""
        if self.client is None:
            return
        try:
            self.client.quit()
        except (smtplib.SMTPException, OSError):
            pass
        # The next `send` opens a new session instead of using the closed one.
        self.client = None
        self.sent_in_session = 0
        self._drop()


def _transfer(client, message_bytes, mail_from, recipient):
    """Send MAIL, RCPT and DATA for one message and recipient; raise smtplib's exceptions as `sendmail` does.

    `sendmail` parses both addresses again with the email package for each
    message, which cost the relay more than the rest of the SMTP exchange.
    The addresses here are bare ASCII addresses and go inside <> as they are.
    """
    client.ehlo_or_helo_if_needed()
    code, reply = client.docmd("MAIL", f"FROM:<{mail_from}>")
    if code != 250:
        _reset_after(client, code)
        raise smtplib.SMTPSenderRefused(code, reply, mail_from)
    code, reply = client.docmd("RCPT", f"TO:<{recipient}>")
    if code not in (250, 251):
        _reset_after(client, code)
        raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
    code, reply = client.data(message_bytes)
    if code != 250:
        _reset_after(client, code)
        raise smtplib.SMTPDataError(code, reply)


def _reset_after(client, code):
    """Leave the session ready for the next message after a refusal, or closed after a 421."""
    if code == 421:
        client.close()
        return
    try:
        client.rset()
    except smtplib.SMTPServerDisconnected:
        pass
