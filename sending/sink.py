"""The SMTP sink: every recipient MX of the simulated internet.

The aiosmtpd handler stays thin. It hands the envelope to
`store_received_message`, a plain synchronous function that tests call
directly, running it in a thread because the Django ORM is synchronous.
"""

import asyncio
import logging
from email import policy
from email.header import decode_header, make_header
from email.parser import BytesParser

from aiosmtpd.controller import Controller
from django.conf import settings
from django.db import close_old_connections

from sending import dkim_verification, dns_zone, sink_reports, sink_rules
from sending.models import SinkMessage, SinkRule
from sending.sink_limits import SinkLimiter

Behaviour = SinkRule.Behaviour

logger = logging.getLogger(__name__)

# Headers copied from each message into SinkMessage columns.
STORED_HEADERS = {"subject", "from", "to", "message-id", "x-mailupsim-account", "x-mailupsim-list", "x-mailupsim-sending"}
# Larger messages get 552 from aiosmtpd before they are stored.
MAX_MESSAGE_BYTES = 50 * 1024 * 1024


def store_received_message(peer, helo, mail_from, rcpt_tos, raw):
    """Store one accepted message with its envelope and DKIM verdict; return the SinkMessage."""
    headers = _read_headers(raw)
    dkim_result, dkim_domain, dkim_reason, dkim_signatures = dkim_verification.verify(raw, dns_zone.resolve_txt)
    recipients = [address for address in rcpt_tos]
    message = SinkMessage.objects.create(
        peer_ip=peer[0],
        peer_port=peer[1],
        helo=(helo or "")[:255],
        mail_from=(mail_from or "")[:512],
        rcpt_to=recipients,
        rcpt_search="\n".join(address.lower() for address in recipients),
        subject=headers.get("subject", ""),
        from_header=headers.get("from", ""),
        to_header=headers.get("to", ""),
        message_id=headers.get("message-id", "")[:512],
        account_console_id=_int_or_none(headers.get("x-mailupsim-account")),
        list_id=_int_or_none(headers.get("x-mailupsim-list")),
        sending_id=_int_or_none(headers.get("x-mailupsim-sending")),
        size=len(raw),
        raw=raw,
        dkim_result=dkim_result,
        dkim_domain=dkim_domain[:253],
        dkim_reason=dkim_reason[:2000],
        dkim_signatures=dkim_signatures,
    )
    logger.info(
        "sink stored message=%s peer=%s from=%s rcpt=%s message_id=%s dkim=%s",
        message.pk,
        peer[0],
        mail_from,
        len(recipients),
        message.message_id,
        dkim_result,
    )
    return message


def _read_headers(raw):
    """Return the first value of each stored header, by lower-case name, unfolded and decoded.

    The header block is split by hand, because the email package's header
    objects cost the sink more than the database insert did. Encoded words
    (RFC 2047) are decoded. Undecodable bytes become U+FFFD.
    """
    values = {}
    name = None
    for line in _header_block(raw).split(b"\n"):
        line = line.rstrip(b"\r")
        if line[:1] in (b" ", b"\t"):
            if name is not None:
                values[name].append(line)
            continue
        field, colon, value = line.partition(b":")
        key = field.strip().lower().decode("ascii", "replace")
        name = key if colon and key in STORED_HEADERS and key not in values else None
        if name is not None:
            values[name] = [value]
    return {key: _decode_header_value(b"".join(lines)) for key, lines in values.items()}


def _header_block(raw):
    for separator in (b"\r\n\r\n", b"\n\n"):
        end = raw.find(separator)
        if end >= 0:
            return raw[:end]
    return raw


def _decode_header_value(value):
    text = value.decode("utf-8", "replace").strip()
    if "=?" not in text:
        return text
    try:
        return str(make_header(decode_header(text)))
    except (LookupError, ValueError, UnicodeError):
        return text


def _int_or_none(value):
    if value and value.strip().isdigit() and len(value.strip()) < 10:
        return int(value.strip())
    return None


def parse_message(raw):
    """Split a stored message into headers, text and HTML bodies and attachment summaries."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    result = {"headers": [[name, _safe_str(value)] for name, value in message.items()], "text": None, "html": None}
    attachments = []
    for part in message.walk():
        if part.is_multipart():
            continue
        content_type = part.get_content_type()
        filename = part.get_filename()
        if filename or part.get_content_disposition() == "attachment":
            payload = part.get_payload(decode=True) or b""
            attachments.append({"filename": filename or "", "content_type": content_type, "size": len(payload)})
        elif content_type == "text/plain" and result["text"] is None:
            result["text"] = _part_text(part)
        elif content_type == "text/html" and result["html"] is None:
            result["html"] = _part_text(part)
    result["attachments"] = attachments
    return result


def _part_text(part):
    try:
        return part.get_content()
    except (LookupError, ValueError, AssertionError):
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", "replace")


def _safe_str(value):
    try:
        return str(value)
    except (ValueError, TypeError, IndexError, AttributeError):
        return ""


class SinkHandler:
    """The SMTP side of every simulated ISP.

    At RCPT the handler first asks each of `admission_checks` (callables
    taking the session, the envelope and the address, returning an SMTP
    reply line to send or None), which is where per-ISP limits belong. Then
    `sink_rules.decide` picks the recipient's behaviour: accept, defer,
    reject, disconnect or answer slowly at once, or accept and send a DSN,
    a complaint or an auto-reply to the inbound MX after the message is
    stored.
    """

    def __init__(self, admission_checks=()):
        self.admission_checks = list(admission_checks)
        self.limits = SinkLimiter()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        loop = asyncio.get_running_loop()
        # The ISP limits and the rules read rows, and the ORM must not run
        # on the event loop. One executor call does both, because each hop
        # to a thread costs the sink time on every recipient.
        refusal, decision = await loop.run_in_executor(None, _admit, self.limits, server, session.peer[0], address)
        if refusal:
            logger.info("sink refused recipient peer=%s rcpt=%s reply=%s", session.peer[0], address, refusal)
            # 421 informs the client that the server closes the session (RFC 5321 section 4.2.2).
            loop.call_soon(server.transport.close)
            return refusal
        for check in self.admission_checks:
            reply = check(session, envelope, address)
            if reply:
                return reply

        if decision.behaviour in (Behaviour.DEFER, Behaviour.REJECT):
            logger.info("sink %s rcpt=%s reply=%s", decision.behaviour, address, decision.reply)
            return decision.reply
        if decision.behaviour == Behaviour.DISCONNECT:
            logger.info("sink disconnect rcpt=%s peer=%s", address, session.peer)
            server.transport.close()
            return "421 4.4.2 Connection dropped"
        if decision.behaviour == Behaviour.SLOW:
            await asyncio.sleep(decision.delay_seconds)

        envelope.rcpt_tos.append(address)
        if decision.behaviour in sink_rules.REPORTS:
            envelope.reports = getattr(envelope, "reports", []) + [(address, decision)]
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(
                None, _store_in_thread, session.peer, session.host_name, envelope.mail_from, envelope.rcpt_tos, raw
            )
        except Exception:
            logger.exception("sink could not store a message from %s", session.peer)
            return "451 4.3.0 Message could not be stored, try again later"

        for address, decision in getattr(envelope, "reports", []):
            delay = decision.delay_seconds if decision.rule_id else settings.SINK_REPORT_DELAY_SECONDS
            report = (raw, envelope.mail_from, address, decision, session.peer[0])
            loop.call_later(delay, lambda report=report: loop.run_in_executor(None, _send_report_logged, *report))
        self.limits.message_accepted(server)
        return "250 2.0.0 Message accepted for delivery"


def _admit(limits, server, peer_ip, address):
    """Return (421 reply or None, Decision or None) for a recipient; the decision is made only when no limit refuses."""
    close_old_connections()
    try:
        refusal = limits.check_recipient(server, peer_ip, address)
        return refusal, None if refusal else sink_rules.decide(address)
    finally:
        close_old_connections()


def _send_report_logged(*report):
    """Run send_report in an executor thread, where no caller awaits the result, so log what it raises."""
    try:
        send_report(*report)
    except Exception:
        logger.exception("sink could not send a report rcpt=%s", report[2])


def send_report(original, mail_from, recipient, decision, source_ip):
    """Send the report that `decision` asks for about one accepted recipient to the inbound MX.

    A bounce or auto-reply goes to the envelope sender, from the null
    sender; a message with the null sender gets none, as RFC 5321 and
    RFC 3834 require. A complaint goes to the feedback-loop address.
    """
    if decision.behaviour == Behaviour.COMPLAINT:
        report = sink_reports.feedback_report(original, recipient, source_ip)
        sink_reports.send_to_inbound_mx("", sink_reports.feedback_loop_address(), report)
        return
    if not mail_from or mail_from == "<>":
        return
    if decision.behaviour == Behaviour.BOUNCE:
        report = sink_reports.delivery_status_notification(original, mail_from, recipient, decision)
    else:
        report = sink_reports.auto_reply(original, mail_from, recipient, decision)
    sink_reports.send_to_inbound_mx("", mail_from, report)


def _store_in_thread(peer, helo, mail_from, rcpt_tos, raw):
    close_old_connections()
    try:
        store_received_message(peer, helo, mail_from, rcpt_tos, raw)
    finally:
        close_old_connections()


def start_sink(host, port):
    """Start the sink in a background thread and return its aiosmtpd Controller (call .stop() to end it)."""
    controller = Controller(
        SinkHandler(),
        hostname=host,
        port=port,
        decode_data=False,
        data_size_limit=MAX_MESSAGE_BYTES,
        server_hostname="sink.mailup-sim.localhost",
    )
    controller.start()
    logger.info("sink listening on %s:%s", host, port)
    return controller
