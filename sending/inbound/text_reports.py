"""Bounces written as prose: finding the failed addresses and the error text about each.

Many MTAs (qmail, Exim, Courier, older Exchange, webmail providers) send
no RFC 3464 delivery-status part. Their reports share a shape: a sender
such as MAILER-DAEMON, a subject such as "Undeliverable", an explanation
that names each failed address with the remote server's reply, and then a
copy of the original message after a separator line. This module reads
that shape without knowing which MTA wrote it.
"""

import re
from email import message_from_string
from email.header import decode_header, make_header

BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery[ _](status|failure|notification|has failed|failed|problem|report)|mail delivery|"
    r"returned mail|return(ed)? to sender|failure notice|mail system error|non[- ]?delivery|nondeliverable|"
    r"could not be delivered|not delivered|delivery delayed|delayed \d+ hours|warning: message|mail failure|"
    r"mail could not|message not delivered|permanent error|unzustellbar|nicht zustellbar|non recapitabile|"
    r"are not member|error sending (message|your mail)|delayed mail|notification d'[ée]tat|benachrichtung|failure delivery|"
    r"errors from|\u30a8\u30e9\u30fc",
    re.IGNORECASE,
)
BOUNCE_SENDER = re.compile(
    r"mailer-daemon|post_?master|mail delivery|mail ?administrator|mdaemon|mail ?system|"
    r"bounce|nobody@|daemon@|mailerdaemon",
    re.IGNORECASE,
)
# Lines that start the returned copy of the original message, as MTAs word them.
ORIGINAL_SEPARATOR = re.compile(
    r"^\s*(-{2,}|={2,}|\*{2,})?\s*("
    r"(below this line is a copy|this is a copy of|original message(?! was received)|copy of the (original )?message|"
    r"returned message|undelivered message|original mail|message headers follow|"
    r"headers of the (original|returned)|header of the original|first \d+ lines|rfc822 message)"
    r"|(the )?text of the (returned|original) message"
    r")",
    re.IGNORECASE | re.MULTILINE,
)
FAILURE_WORDING = re.compile(
    r"could not be delivered|couldn't be delivered|undeliverable|delivery (has )?failed|permanent(ly)? fail|"
    r"was not delivered|unable to deliver|not be delivered",
    re.IGNORECASE,
)
SMTP_ERROR_REPLY = re.compile(r"(?<![\d.])[45]\d\d(?: |-|$)[^\n]*", re.MULTILINE)
ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# "SMTP error from remote mail server after MAIL FROM:<sender>" names the
# sender, not a failed recipient.
SENDER_MENTION = re.compile(r"(mail from:?|envelope-from|from:|sender:?|return-path:)\s*<?([^\s<>]+@[^\s<>,;]+)", re.IGNORECASE)
# "For further assistance, please contact <support@isp.example>" names a help
# desk, and a mailing list names its control address the same way.
HELP_MENTION = re.compile(r"(contact|send (e-?)?mail to|write to|to the address)\s*<?([^\s<>]+@[^\s<>,;]+)", re.IGNORECASE)
# Exim lists each address it could not parse as "  <text>: malformed address: …".
MALFORMED_LINE = re.compile(r"^\s+(\S.*?): malformed address:", re.IGNORECASE | re.MULTILINE)
EXIM_LIST_START = re.compile(r"following (address\(es\)|addresses|recipients?)[^\n]*(failed|deferred|delayed)", re.IGNORECASE)
SERVICE_LOCAL_PARTS = {"mailer-daemon", "postmaster", "root", "abuse", "noreply", "no-reply", "nobody"}


def looks_like_bounce(message):
    """Tell whether a message without a delivery-status part is a non-delivery report."""
    if message.get("X-Failed-Recipients"):
        return True
    subject = decoded_header(message, "Subject")
    sender = str(message.get("From") or "") + " " + str(message.get("Return-Path") or "")
    if BOUNCE_SUBJECT.search(subject):
        return True
    returned_copy = any(part.get_content_type() == "message/rfc822" for part in message.walk())
    if not BOUNCE_SENDER.search(sender):
        # Some providers send from an ordinary address with a subject in
        # another language: a returned copy plus failure wording is enough.
        return returned_copy and bool(FAILURE_WORDING.search(human_readable_text(message)))
    if returned_copy or ORIGINAL_SEPARATOR.search(all_text(message)):
        return True
    text = human_readable_text(message)
    return bool(FAILURE_WORDING.search(text) or SMTP_ERROR_REPLY.search(text))


def decoded_header(message, name):
    """Return a header's value with RFC 2047 encoded words decoded; '' when missing or undecodable."""
    value = message.get(name)
    if value is None:
        return ""
    try:
        return str(make_header(decode_header(str(value))))
    except (LookupError, ValueError, UnicodeError):
        return str(value)


def human_readable_text(message):
    """Return the explanation part of a report: text parts outside the returned message, cut at its copy."""
    texts = []
    for part in _parts_outside_original(message):
        if part.get_content_type() in ("text/plain", "text/html") and not part.is_multipart():
            texts.append(part_text(part))
        if texts and part.get_content_type() == "text/plain":
            break
    text = _unquote("\n".join(texts))
    if "<html" in text.lower() or "<body" in text.lower():
        text = re.sub(r"<[^>]+>", " ", text)
    separator = ORIGINAL_SEPARATOR.search(text)
    if separator and separator.start() > 0:
        text = text[: separator.start()]
    return _cut_at_embedded_headers(text)


def _parts_outside_original(message):
    if not message.is_multipart():
        yield message
        return
    for part in message.get_payload():
        if part.get_content_maintype() == "message":
            continue
        if part.is_multipart():
            yield from _parts_outside_original(part)
        elif part.get_content_maintype() == "multipart":
            yield from _parts_outside_original(_reparse_multipart(part))
        else:
            yield part


def _reparse_multipart(part):
    """Parse a multipart part again whose boundary parameter was folded onto a line of its own.

    Some MTAs put a blank line between `Content-Type: multipart/…;` and its
    `boundary=` line, so the parameter lands in the body.
    """
    payload = str(part.get_payload())
    return message_from_string(f"Content-Type: {part.get_content_type()};\n {payload.lstrip()}")


def _unquote(text):
    """Remove one level of "> " quoting when a forwarded report quotes every line."""
    lines = [line for line in text.splitlines() if line.strip()]
    quoted = [line for line in lines if line.startswith(">")]
    if lines and len(quoted) > 0.8 * len(lines):
        return re.sub(r"^> ?", "", text, flags=re.MULTILINE)
    return text


def all_text(message):
    return "\n".join(part_text(part) for part in message.walk() if part.get_content_maintype() == "text")


def _cut_at_embedded_headers(text):
    """Cut the text where a copied header block (Received:, Return-Path:, …) begins."""
    match = re.search(r"^(Return-Path|Received|Message-ID|DKIM-Signature|X-Received):", text, re.IGNORECASE | re.MULTILINE)
    if match and match.start() > 0:
        return text[: match.start()]
    return text


def failed_recipients(message):
    """Return (address, error text) for each failed address that the report names; at least one pair."""
    text = human_readable_text(message)
    addresses = (
        _listed_addresses(message, text)
        or _mentioned_addresses(message, text)
        or _mentioned_addresses(message, text, keep_service=True)
    )
    if not addresses:
        return [("", text)]
    return [(address, text_about(text, address, addresses) or text) for address in addresses]


def _listed_addresses(message, text):
    """Addresses that the report lists explicitly: X-Failed-Recipients, Exim's malformed addresses or its indented list."""
    header = str(message.get("X-Failed-Recipients") or "")
    listed = [address.strip().lower() for address in header.split(",") if address.strip()]
    if listed:
        return list(dict.fromkeys(listed))

    malformed = [ADDRESS.search(match.group(1)) for match in MALFORMED_LINE.finditer(text)]
    if any(malformed):
        return list(dict.fromkeys(found.group(0).lower() for found in malformed if found))

    start = EXIM_LIST_START.search(text)
    if not start:
        return []
    found = []
    for line in text[start.end() :].splitlines()[1:]:
        if not line.strip():
            if found:
                break
            continue
        if line.startswith("  ") and not line.startswith("    "):
            found.append(line.strip().split()[0].strip("<>:").lower())
    return list(dict.fromkeys(found))


def _mentioned_addresses(message, text, keep_service=False):
    """Addresses named in the explanation, less the sender, the report's own parties and service mailboxes."""
    excluded = {match.group(2).strip("<>.:").lower() for match in SENDER_MENTION.finditer(text)}
    excluded.update(match.group(3).strip("<>.:").lower() for match in HELP_MENTION.finditer(text))
    for name in ("To", "From", "Reply-To", "Return-Path"):
        excluded.update(address.lower() for address in ADDRESS.findall(str(message.get(name) or "")))
    found = []
    for address in ADDRESS.findall(text):
        address = address.strip(".").lower()
        if address in excluded or (address.split("@")[0] in SERVICE_LOCAL_PARTS and not keep_service):
            continue
        found.append(address)
    return list(dict.fromkeys(found))


def text_about(text, address, others=()):
    """Return the lines of `text` from the first mention of `address` to the first later mention of another.

    The lines start at the beginning of the line that names the address,
    because some MTAs put the error first ("Unknown user: a@example.com").
    """
    if not address:
        return ""
    lower = text.lower()
    start = lower.find(address.lower())
    if start < 0:
        local = address.split("@")[0].lower()
        start = lower.find(local) if local else -1
        if start < 0:
            return ""
    line_start = lower.rfind("\n", 0, start) + 1
    after = start + len(address)
    ends = [lower.find(other.lower(), after) for other in others if other.lower() != address.lower()]
    ends = [lower.rfind("\n", after, end) + 1 or end for end in ends if end >= 0]
    end = min([position for position in ends if position > after] or [len(text)])
    return text[line_start:end]


def headers_in_text(text, names):
    """Find header values in a copied header block of plain text, for reports without a message part."""
    values = {}
    for name in names:
        match = re.search(rf"^{re.escape(name)}:[ \t]*(.+)$", text, re.IGNORECASE | re.MULTILINE)
        if match and name not in ("to", "from"):
            values[name] = match.group(1).strip()
    return values


def part_text(part):
    """Decode a part's payload to text, whatever its declared charset and transfer encoding."""
    payload = part.get_payload(decode=True)
    if payload is None:
        inner = part.get_payload()
        if isinstance(inner, list):
            return "\n".join(str(item) for item in inner)
        return str(inner or "")
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except LookupError:
        return payload.decode("utf-8", "replace")
