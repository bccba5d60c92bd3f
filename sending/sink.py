"""The SMTP sink: every recipient MX of the simulated internet.

The aiosmtpd handler stays thin. It hands each accepted message to a
MessageStore thread, because the Django ORM is synchronous, and that
thread stores it with the DKIM verdict. `store_received_message` does the
same for one message, as a plain synchronous function that tests call
directly.
"""

import asyncio
import logging
import queue
import threading
from concurrent.futures import Future, TimeoutError as FutureTimeoutError
from email import policy
from email.errors import MessageError
from email.header import decode_header, make_header
from email.parser import BytesParser

from aiosmtpd.controller import Controller
from django.conf import settings
from django.db import close_old_connections, transaction

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
    message = received_message(peer, helo, mail_from, rcpt_tos, raw)
    message.save(force_insert=True)
    _log_stored(message)
    return message


def received_message(peer, helo, mail_from, rcpt_tos, raw):
    """Return the unsaved SinkMessage for one accepted message, with its DKIM verdict."""
    headers = _read_headers(raw)
    dkim_result, dkim_domain, dkim_reason, dkim_signatures = dkim_verification.verify(raw, dns_zone.resolve_txt)
    recipients = [address for address in rcpt_tos]
    return SinkMessage(
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


def _log_stored(message):
    logger.info(
        "sink stored message=%s peer=%s from=%s rcpt=%s message_id=%s dkim=%s",
        message.pk,
        message.peer_ip,
        message.mail_from,
        len(message.rcpt_to),
        message.message_id,
        message.dkim_result,
    )


class MessageStore:
    """One thread that verifies the messages the sink accepts and inserts them, many per transaction.

    Each message used to get its own INSERT and commit in one of the event
    loop's executor threads. On SQLite those threads and the workers then
    queued for the one write lock, and a writer that found it taken slept
    in SQLite's busy handler. With the bench's load, storing took 8 ms on
    average for 0.7 ms of CPU (bench/send.py on a 2-core machine shared
    with other benchmarks). Here, the messages that arrive while a
    transaction runs go into the next one together. A message counts as
    stored only when its transaction has committed.
    """

    # Messages inserted per transaction at most.
    MAX_BATCH = 100

    def __init__(self):
        self.queue = queue.SimpleQueue()
        self.thread = None
        self.lock = threading.Lock()
        self.stopped = False

    def submit(self, peer, helo, mail_from, rcpt_tos, raw):
        """Queue one message and return a concurrent.futures.Future of its SinkMessage.

        After `stop` the future fails at once, so the session replies 451.
        """
        future = Future()
        with self.lock:
            if self.stopped:
                future.set_exception(RuntimeError("The sink is stopping."))
                return future
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="sink-store", daemon=True)
                self.thread.start()
            self.queue.put(((peer, helo, mail_from, rcpt_tos, raw), future))
        return future

    def stop(self):
        """Store what is queued, then end the thread; later messages are refused."""
        with self.lock:
            self.stopped = True
            thread, self.thread = self.thread, None
            if thread is not None:
                self.queue.put(None)
        if thread is not None:
            thread.join()

    def _run(self):
        while True:
            batch, stopping = self._next_batch()
            if batch:
                _store_logged(batch)
            if stopping:
                return

    def _next_batch(self):
        """Wait for one queued message, then take those queued behind it; return (batch, whether stop was asked)."""
        batch = []
        item = self.queue.get()
        while item is not None:
            batch.append(item)
            if len(batch) >= self.MAX_BATCH:
                return batch, False
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return batch, False
        return batch, True


def _store_logged(batch):
    """Store a batch, failing the futures still open when storing raises, so that no session waits for ever."""
    try:
        _store_batch(batch)
    except Exception as error:
        logger.exception("sink could not store %s messages", len(batch))
        for _envelope, future in batch:
            if not future.done():
                future.set_exception(error)


def _store_batch(batch):
    """Insert the messages of `batch` in one transaction and settle each one's future."""
    close_old_connections()
    try:
        _insert_batch(batch)
    finally:
        close_old_connections()


def _insert_batch(batch):
    messages = []
    for envelope, future in batch:
        # A session that ended before its turn (the client left, or the
        # sink is stopping) cancelled its future and never gets a reply, so
        # its message is not stored: the client sends it again.
        if not future.set_running_or_notify_cancel():
            continue
        try:
            messages.append((received_message(*envelope), future))
        except Exception as error:
            logger.exception("sink could not read a message from %s", envelope[0])
            future.set_exception(error)
    try:
        with transaction.atomic():
            SinkMessage.objects.bulk_create([message for message, _future in messages])
    except Exception as error:
        logger.exception("sink could not store %s messages", len(messages))
        for _message, future in messages:
            future.set_exception(error)
        return
    for message, future in messages:
        _log_stored(message)
        future.set_result(message)


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
    if value and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) < 10:
        return int(value.strip())
    return None


def parse_message(raw):
    """Split a stored message into headers, text and HTML bodies and attachment summaries."""
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
        parts = list(message.walk())
    except RecursionError:
        # The parser recurses once per level of multipart nesting, so a
        # message nested deeper than Python's recursion limit shows its
        # top-level headers only.
        message = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
        parts = []
    result = {"headers": _header_rows(message), "text": None, "html": None}
    attachments = []
    for part in parts:
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


def _header_rows(message):
    """Return [name, value] rows of the message's headers, with the raw text of a header the email package cannot parse."""
    rows = []
    for name, raw_value in message.raw_items():
        try:
            value = str(message.policy.header_fetch_parse(name, raw_value))
        except (ValueError, TypeError, IndexError, AttributeError, MessageError):
            # Python 3.11 raises IndexError for a Message-ID such as "<<x>>".
            value = raw_value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        rows.append([name, value])
    return rows


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
        self.store = MessageStore()

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
            await asyncio.wrap_future(
                self.store.submit(session.peer, session.host_name, envelope.mail_from, envelope.rcpt_tos, raw)
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


# How long stop() waits for the event loop to send the last replies.
REPLY_WAIT_SECONDS = 5


class SinkController(Controller):
    """An aiosmtpd Controller that stores the messages it has queued, and replies to them, before it stops."""

    # Time the event loop gets to send the replies of the last stored messages.
    REPLY_SECONDS = 0.2

    def stop(self, *args, **kwargs):
        # Stopping cancels every session. A client that never got the 250 of
        # a stored message would send it again, so the store finishes first
        # and the event loop then sends the replies.
        self.handler.store.stop()
        if self.loop.is_running():
            pause = asyncio.run_coroutine_threadsafe(asyncio.sleep(self.REPLY_SECONDS), self.loop)
            try:
                pause.result(timeout=REPLY_WAIT_SECONDS)
            except FutureTimeoutError:
                # The loop is busy (a slow session on a loaded machine). The
                # replies are a courtesy, and stopping must not fail for them.
                pause.cancel()
                logger.warning("sink stopping without waiting for replies port=%s", self.port)
        super().stop(*args, **kwargs)


def start_sink(host, port):
    """Start the sink in a background thread and return its aiosmtpd Controller (call .stop() to end it)."""
    controller = SinkController(
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
