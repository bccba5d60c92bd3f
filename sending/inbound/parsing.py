"""Reading of inbound reports: DSNs (RFC 3464), ARF complaints (RFC 5965) and auto-replies (RFC 3834).

`parse_report` turns the raw bytes that reach the inbound MX into an
InboundReport: what kind of message it is, one FailedRecipient per address
that failed, and the headers of the original message, which name the
delivery. The email package reads the MIME structure. Reports that MTAs
write as plain text (qmail, Exim, older Exchange, webmail providers) go
through `text_reports`, and `reasons` decides hard or soft per recipient.
"""

import json
import re
from dataclasses import dataclass, field
from email import errors, message_from_bytes, message_from_string, policy
from email.parser import HeaderParser

from sending.inbound import reasons, text_reports

BOUNCE = "bounce"
COMPLAINT = "complaint"
AUTO_REPLY = "auto_reply"
DELIVERED = "delivered"
UNKNOWN = "unknown"

DSN_TYPES = {"message/delivery-status", "message/global-delivery-status"}
ARF_TYPE = "message/feedback-report"
ORIGINAL_TYPES = {"message/rfc822", "message/global", "text/rfc822-headers", "message/rfc822-headers"}
# Headers of the original message that lead back to the delivery.
ORIGINAL_HEADERS = ("message-id", "x-mailupsim-delivery", "x-mailupsim-sending", "x-mailupsim-list", "to", "from")

BOUNDARY_LINE = re.compile(r"^--([^\s-][^\s]{0,69})\s*$", re.MULTILINE)
# Mail clients introduce an inline forward with one of these lines.
INLINE_FORWARD = re.compile(r"^\s*(begin forwarded message:|-+ ?forwarded message ?-+)\s*$", re.IGNORECASE | re.MULTILINE)
SUCCESS_ACTIONS = {"delivered", "relayed", "expanded"}
# OpenSMTPD's notices open with this line. Their delivery-status part often
# gives only a generic 4.0.0 or 5.0.0 and, while OpenSMTPD retries, the
# Action "delayed", even for a cause that retrying cannot heal, such as a
# domain without a mail exchanger. The notice's line for the recipient names
# the cause, so that line decides.
OPENSMTPD_NOTICE = re.compile(r"this is the mailer-daemon, please do not reply to this e-?mail", re.IGNORECASE)
GENERIC_STATUS = re.compile(r"^[45]\.0\.0$")
AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|antwort)|out of (the )?office|away from|away until|"
    r"abwesenheit|risposta automatica|fuori sede|r[ée]ponse automatique|vacation)",
    re.IGNORECASE,
)


@dataclass
class FailedRecipient:
    """A recipient that failed according to the report, with the reason `reasons.classify` found."""

    address: str
    status: str = ""
    reply_code: str = ""
    diagnostic: str = ""
    action: str = "failed"
    reason: str = ""
    hard: bool = False


@dataclass
class InboundReport:
    """The content of an inbound message: its kind, failed recipients and the original message's headers."""

    kind: str
    recipients: list = field(default_factory=list)
    feedback_type: str = ""
    original: dict = field(default_factory=dict)
    subject: str = ""

    @property
    def outcome(self):
        """`hard_bounce` when any recipient failed permanently, `soft_bounce` for other bounces, else the kind."""
        if self.kind != BOUNCE:
            return self.kind
        return "hard_bounce" if any(recipient.hard for recipient in self.recipients) else "soft_bounce"


def parse_report(raw):
    """Read raw message bytes into an InboundReport; never raises on malformed input."""
    message = _with_actual_boundary(message_from_bytes(raw, policy=policy.compat32))
    report = _parse_message(message)
    if report.kind in (BOUNCE, UNKNOWN) and not any(recipient.address for recipient in report.recipients):
        forwarded = _forwarded_report(message) or _inline_forwarded_report(message)
        if forwarded is not None:
            return _parse_message(forwarded)
    return report


def _with_actual_boundary(message):
    """Parse a multipart message again with the boundary its body uses, when the declared one never appears.

    The email package then finds no parts at all (StartBoundaryNotFoundDefect),
    for example when the header's boundary was rewritten but the body's was not.
    """
    if not any(isinstance(defect, errors.StartBoundaryNotFoundDefect) for defect in message.defects):
        return message
    match = BOUNDARY_LINE.search(str(message.get_payload()))
    if match is None:
        return message
    message.set_param("boundary", match.group(1))
    try:
        return message_from_bytes(message.as_bytes(), policy=policy.compat32)
    except (LookupError, ValueError, UnicodeError):
        return message


def _forwarded_report(message):
    """Return a report that someone forwarded as an attachment, or None."""
    for part in _outer_parts(message):
        payload = part.get_payload() if part.get_content_type() == "message/rfc822" else None
        if isinstance(payload, list) and payload and payload[0].get_content_type() == "multipart/report":
            return payload[0]
    return None


def _inline_forwarded_report(message):
    """Return a report that someone forwarded inline as "> " quoted text, or None."""
    text = text_reports.part_text(message) if not message.is_multipart() else text_reports.human_readable_text(message)
    marker = INLINE_FORWARD.search(text)
    if marker is None:
        return None
    quoted = text[marker.end() :].lstrip("\r\n")
    if not quoted.startswith(">"):
        return None
    unquoted = re.sub(r"^> ?", "", quoted, flags=re.MULTILINE)
    return message_from_string(unquoted, policy=policy.compat32)


def _parse_message(message):
    parts = list(_outer_parts(message))
    types = {part.get_content_type() for part in parts}
    original = _original_headers(message, parts)

    if ARF_TYPE in types:
        return _complaint_from_arf(message, parts, original)
    if types & DSN_TYPES:
        report = _report_from_dsn(message, parts, original)
        if report is not None:
            return report
    if _is_apple_unsubscribe(message):
        return InboundReport(COMPLAINT, [FailedRecipient(_bare_address(message.get("From", "")), reason="feedback")], "opt-out", original)
    notification = _amazon_notification(message)
    if notification is not None:
        return notification
    if text_reports.looks_like_bounce(message):
        return _report_from_text(message, original)
    if _is_auto_reply(message):
        return InboundReport(AUTO_REPLY, [], original=original, subject=_header(message, "Subject"))
    return InboundReport(UNKNOWN, original=original, subject=_header(message, "Subject"))


# --- ARF complaints ------------------------------------------------------------


def _outer_parts(message):
    """Walk the report's parts without entering a returned message, which may carry reports of its own."""
    yield message
    if not message.is_multipart():
        return
    for part in message.get_payload():
        if part.get_content_maintype() == "message" and part.get_content_type() not in DSN_TYPES | {ARF_TYPE}:
            yield part
            continue
        yield from _outer_parts(part)


def _complaint_from_arf(message, parts, original):
    report = next(part for part in parts if part.get_content_type() == ARF_TYPE)
    fields = _feedback_fields(report)
    feedback_type = fields.get("feedback-type", "abuse").strip().lower()
    addresses = [_bare_address(value) for key, value in fields.items() if key == "original-rcpt-to"]
    if not addresses:
        addresses = [_bare_address(original.get("to", ""))]
    recipients = [FailedRecipient(address, reason="feedback") for address in addresses]
    recipients += [
        FailedRecipient(_bare_address(value), reason="feedback") for value in fields.get("_more_rcpt", [])
    ]
    return InboundReport(COMPLAINT, recipients, feedback_type, original, _header(message, "Subject"))


def _feedback_fields(part):
    """Return the report's fields, lower-cased; extra Original-Rcpt-To values go to `_more_rcpt`."""
    text = text_reports.part_text(part)
    fields = {}
    more = []
    for name, value in HeaderParser().parsestr(text.lstrip(), headersonly=True).items():
        key = name.lower()
        if key == "original-rcpt-to" and key in fields:
            more.append(value)
            continue
        fields.setdefault(key, value)
    fields["_more_rcpt"] = more
    return fields


def _is_apple_unsubscribe(message):
    return (message.get("X-Apple-Unsubscribe") or "").strip().lower() == "true"


# --- RFC 3464 DSNs -------------------------------------------------------------


def _report_from_dsn(message, parts, original):
    """Read every per-recipient block of the DSN parts; return None when none names a recipient."""
    blocks = []
    for part in parts:
        if part.get_content_type() in DSN_TYPES:
            blocks += _recipient_blocks(part)
    blocks = [block for block in blocks if block.get("final-recipient") or block.get("original-recipient")]
    if not blocks:
        return None

    explanation = text_reports.human_readable_text(message)
    failed = [block for block in blocks if _action(block) not in SUCCESS_ACTIONS]
    if not failed:
        return InboundReport(DELIVERED, [], original=original, subject=_header(message, "Subject"))
    addresses = [_typed_address(block.get("final-recipient") or block.get("original-recipient", "")) for block in failed]
    text_decides = bool(OPENSMTPD_NOTICE.search(explanation))
    recipients = [_recipient_from_block(block, explanation, addresses, text_decides) for block in failed]
    return InboundReport(BOUNCE, recipients, original=original, subject=_header(message, "Subject"))


def _recipient_blocks(part):
    """Split a delivery-status part into field groups and return those after the per-message group."""
    text = text_reports.part_text(part).replace("\r\n", "\n")
    groups = [group for group in re.split(r"\n\s*\n", text.strip()) if group.strip()]
    blocks = []
    for group in groups:
        fields = {}
        for name, value in HeaderParser().parsestr(group.strip() + "\n", headersonly=True).items():
            fields.setdefault(name.lower(), " ".join(value.split()))
        blocks.append(fields)
    return [block for block in blocks if "final-recipient" in block or "original-recipient" in block]


def _action(block):
    return block.get("action", "failed").strip().lower().split()[0] if block.get("action", "").strip() else "failed"


def _recipient_from_block(block, explanation, addresses, text_decides=False):
    """Return the FailedRecipient of one DSN block.

    With `text_decides` (an OpenSMTPD notice), a generic status and the
    Action are left out of the verdict: see OPENSMTPD_NOTICE.
    """
    address = _typed_address(block.get("final-recipient") or block.get("original-recipient", ""))
    diagnostic = _strip_type(block.get("diagnostic-code", ""))
    status = reasons.find_status(block.get("status", "")) or reasons.find_status(diagnostic)
    reply_code = reasons.find_reply_code(diagnostic)
    context = text_reports.text_about(explanation, address, addresses) if explanation else ""
    recipient = FailedRecipient(address, status, reply_code, diagnostic, _action(block))
    text = diagnostic if reasons.text_reason(diagnostic) else f"{diagnostic}\n{context or explanation}"

    verdict_status, verdict_action = status, recipient.action
    if text_decides and GENERIC_STATUS.match(status):
        verdict_status, verdict_action = "", "failed"
    recipient.reason, recipient.hard = reasons.classify(
        text, verdict_status, reply_code, verdict_action, context, remote_reply=bool(diagnostic)
    )
    return recipient


def _typed_address(value):
    """Return the address of an `rfc822; user@example.com` field."""
    return _bare_address(_strip_type(value))


def _strip_type(value):
    kind, separator, rest = value.partition(";")
    if separator and " " not in kind.strip() and len(kind) < 20:
        return rest.strip()
    return value.strip()


# --- Plain-text bounces ----------------------------------------------------------


def _report_from_text(message, original):
    recipients = text_reports.failed_recipients(message)
    explanation = text_reports.human_readable_text(message)
    reporter = _domain(_header(message, "From"))
    result = []
    for address, lines in recipients:
        diagnostic = _most_specific_text(lines, explanation)
        status = reasons.find_status(diagnostic)
        reply_code = reasons.find_reply_code(diagnostic)
        recipient = FailedRecipient(address, status, reply_code, diagnostic)
        recipient.reason, recipient.hard = reasons.classify(diagnostic, status, reply_code, "failed", reporter=reporter)
        result.append(recipient)
    return InboundReport(BOUNCE, result, original=original, subject=_header(message, "Subject"))


def _most_specific_text(lines, explanation):
    """Return the first of: the line naming the address, the lines about it, the whole explanation, that names a cause.

    MTAs that list several addresses print each one's error on its own
    line, and the lines after it may already concern the next address.
    """
    first_line = lines.strip().split("\n", 1)[0]
    for text in (first_line, lines):
        if reasons.text_reason(text):
            return text
    return explanation


# --- Amazon SES notifications ------------------------------------------------------


def _amazon_notification(message):
    """Read an Amazon SES notification forwarded by SNS e-mail, whose body is JSON."""
    if message.is_multipart():
        return None
    body = text_reports.part_text(message).strip()
    start = body.find("{")
    if start < 0 or "notificationType" not in body[start : start + 1000]:
        return None
    try:
        data, _ = json.JSONDecoder().raw_decode(body[start:].replace("\n ", ""))
    except ValueError:
        return None
    if isinstance(data.get("Message"), str):
        # SNS wraps the SES notification as a JSON string in its own envelope.
        try:
            data = json.loads(data["Message"])
        except ValueError:
            return None
    return _report_from_ses(data, message) if isinstance(data, dict) else None


def _report_from_ses(data, message):
    kind = str(data.get("notificationType") or data.get("eventType") or "")
    subject = _header(message, "Subject")
    original = {"message-id": str(_object(data, "mail").get("messageId", ""))}
    if kind == "Delivery":
        return InboundReport(DELIVERED, [], original=original, subject=subject)
    if kind == "Complaint":
        complaint = _object(data, "complaint")
        addresses = [str(item.get("emailAddress", "")) for item in _objects(complaint, "complainedRecipients")]
        recipients = [FailedRecipient(address, reason="feedback") for address in addresses]
        feedback_type = str(complaint.get("complaintFeedbackType", "abuse"))
        return InboundReport(COMPLAINT, recipients, feedback_type, original, subject)
    if kind == "Bounce":
        recipients = _ses_bounce_recipients(_object(data, "bounce"))
        return InboundReport(BOUNCE, recipients, original=original, subject=subject)
    return None


def _object(data, key):
    """Return `data[key]` when it is a JSON object, else an empty dict; the JSON comes from outside."""
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _objects(data, key):
    value = data.get(key)
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _ses_bounce_recipients(bounce):
    permanent = bounce.get("bounceType") == "Permanent"
    recipients = []
    for item in _objects(bounce, "bouncedRecipients"):
        diagnostic = str(item.get("diagnosticCode", ""))
        status = reasons.find_status(str(item.get("status", ""))) or reasons.find_status(diagnostic)
        reply_code = reasons.find_reply_code(diagnostic)
        recipient = FailedRecipient(str(item.get("emailAddress", "")), status, reply_code, diagnostic)
        action = "failed" if permanent else "delayed"
        recipient.reason, recipient.hard = reasons.classify(diagnostic, status, reply_code, action)
        recipients.append(recipient)
    return recipients


# --- Auto-replies and helpers ----------------------------------------------------


def _is_auto_reply(message):
    auto_submitted = (message.get("Auto-Submitted") or "").strip().lower()
    if auto_submitted.startswith("auto-replied"):
        return True
    if message.get("X-Autoreply") or message.get("X-Autorespond") or message.get("X-Auto-Response-Suppress"):
        return True
    if (message.get("Precedence") or "").strip().lower() == "auto_reply":
        return True
    return bool(AUTO_REPLY_SUBJECT.search(_header(message, "Subject")))


def _original_headers(message, parts):
    """Return the headers of the returned original message that name the delivery."""
    for part in parts:
        if part.get_content_type() not in ORIGINAL_TYPES:
            continue
        headers = _embedded_headers(part)
        if headers:
            return headers
    return text_reports.headers_in_text(text_reports.all_text(message), ORIGINAL_HEADERS)


def _embedded_headers(part):
    payload = part.get_payload()
    if isinstance(payload, list) and payload:
        inner = payload[0]
        return {name: str(inner.get(name, "")).strip() for name in ORIGINAL_HEADERS if inner.get(name)}
    text = text_reports.part_text(part)
    parsed = HeaderParser().parsestr(text.lstrip(), headersonly=True)
    return {name: str(parsed.get(name, "")).strip() for name in ORIGINAL_HEADERS if parsed.get(name)}


def _header(message, name):
    value = message.get(name, "")
    return str(value) if value is not None else ""


ADDRESS = re.compile(r"[^\s<>\"'(),;:\[\]]+@[^\s<>\"'(),;:\[\]]+")


def _bare_address(value):
    match = ADDRESS.search(value or "")
    return match.group(0).strip(".").lower() if match else (value or "").strip().strip("<>").lower()


def _domain(value):
    """Return the domain of the first address in a header value, or ''."""
    return _bare_address(value).rpartition("@")[2] if "@" in (value or "") else ""
