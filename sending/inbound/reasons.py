"""Why a recipient failed, and whether that failure is permanent for the address (hard) or not (soft).

A failure is hard only when the address itself cannot receive mail: the
mailbox does not exist (`user_unknown`), the domain does not exist or
cannot be routed (`host_unknown`), the mailbox has moved (`has_moved`), or
the domain accepts no mail at all (`not_accept`, with a 5xx reply). Every
other failure (full mailbox, spam filter, policy block, time-out, network
trouble, disabled account) says nothing final about the address, so it is
soft, however permanent its SMTP code. Servers word their replies in many
ways and often send a generic status such as 5.0.0 or 5.7.1, so the error
text decides first and the enhanced status code (RFC 3463) decides only
when no pattern matches.
"""

import re

HARD_REASONS = {"user_unknown", "host_unknown", "has_moved", "not_accept"}

STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
REPLY_CODE = re.compile(r"(?<![\d.#-])([245][0-7]\d)(?:[ -]|$)")


def _patterns(*texts):
    return re.compile("|".join(texts), re.IGNORECASE | re.MULTILINE)


# Checked in this order: the first reason whose pattern matches the error
# text wins. Specific soft causes come first, because servers often pair
# them with wording such as "recipient rejected". Then the hard causes.
# Last come broad soft wordings ("denied", "timed out") that also appear
# around a user-unknown reply, for example in a retry log.
TEXT_REASONS = [
    ("host_unknown", _patterns(r"account or domain may not exist")),
    ("filtered", _patterns(r"recipient preferences")),
    ("mailbox_full", _patterns(
        r"mailbox (is )?full", r"over ?quota", r"quota (exceeded|full|violation)", r"exceeded (storage|quota)",
        r"insufficient (disk )?(space|storage)", r"mailbox size limit", r"user(?:'s)? (mailbox|disk) (is )?full",
        r"not enough (storage|space)", r"(mail)?box (exceeds|exceeded)", r"disk quota", r"storage (allocation|limit)",
        r"account is full", r"too much mail", r"mail ?box is over", r"full mailbox", r"mailfolder is full",
    )),
    ("too_big", _patterns(r"message (size|length) (exceeds|too)", r"message too (big|large)", r"size limit", r"too large")),
    ("suspended", _patterns(
        r"(account|mailbox|user) (has been |is )?(disabled|suspended|deactivated|inactive|locked)",
        r"(disabled|suspended|inactive|expired) (account|mailbox|user|recipient)", r"temporarily disabled",
        r"no longer (active|in service)", r"disabled or discontinued",
    )),
    ("expired", _patterns(
        r"retry time( not reached|out)", r"retry timeout", r"message expired", r"could not be delivered for \d+",
        r"delivery time expired", r"has been delayed", r"delivery (is )?delayed", r"delayed \d+ hours",
        r"was not delivered for", r"too old", r"maximum time", r"unable to deliver for \d+",
    )),
    ("rate_limited", _patterns(
        r"too many (connections|messages|recipients|concurrent|sessions)", r"rate limit", r"temporarily deferred",
        r"exceeded the rate", r"connection limit", r"sending rate",
    )),
    ("auth_failure", _patterns(
        r"\bspf\b", r"\bdkim\b", r"\bdmarc\b", r"sender policy framework", r"authentication (failed|required|checks failed)",
    )),
    ("require_ptr", _patterns(
        r"reverse (dns|lookup|hostname)", r"\bptr\b", r"rdns", r"no (dns|hostname) for", r"cannot find your hostname",
        r"client host rejected", r"host name does not match", r"forward-confirmed", r"unresolvable",
    )),
    ("spam", _patterns(
        r"\bspam", r"junk mail", r"unsolicited", r"content (rejected|filter)", r"bulk mail", r"message (was )?(rejected|refused) as",
        r"blocked by (content|filter)", r"\buce\b", r"virus", r"malware", r"infected",
    )),
    ("blocked", _patterns(
        r"block(ed|list)", r"black ?list", r"\brbl\b", r"dnsbl", r"spamhaus", r"spamcop", r"barracuda", r"listed (in|on|at)",
        r"reputation", r"refused to talk", r"your ip", r"banned",
    )),
    ("relay_denied", _patterns(
        r"relay(ing)? (denied|not permitted|access denied|prohibited)", r"not permitted to relay", r"unable to relay", r"no relaying",
    )),
    ("rejected", _patterns(
        r"sender (address )?rejected", r"domain of sender", r"sender (verify|verification) failed", r"not (a )?member",
        r"only members", r"sender (is )?(not|invalid)", r"mail from (was )?rejected", r"bad sender", r"after mail from",
    )),
    ("not_accept", _patterns(
        r"does not accept (e?-?mail|messages)", r"null mx", r"accepts no mail", r"indicated no smtp service",
        r"couldn't find a mail exchanger", r"no mail exchanger",
    )),
    ("has_moved", _patterns(r"has moved", r"address (has )?changed", r"moved to", r"no longer (at|with|valid at)")),
    ("host_unknown", _patterns(
        r"host (or domain name )?not found", r"host unknown", r"unknown host", r"domain (name )?not found",
        r"domain (does not|doesn't|may not) exist", r"no such (domain|host)", r"unrouteable", r"unroutable", r"name or service not known",
        r"nxdomain", r"no mx", r"non-?existent (domain|host)", r"domain (is )?(invalid|unknown)", r"unknown domain",
        r"illegal host", r"dns (error|lookup failed|lookup failure)", r"hostname lookup failed", r"host \S+ not found",
        r"\b[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,} does not exist", r"domain is not reachable",
    )),
    ("user_unknown", _patterns(
        r"user (unknown|not found|does not exist|doesn't exist|invalid|not (known|local))", r"unknown (user|recipient|local|mailbox)",
        r"no such (user|recipient|mailbox|account|person)", r"(recipient|mailbox|address|account)( address)? (does not|doesn't) exist",
        r"(mailbox|recipient|address|user|account) (is )?(not found|unknown|invalid|unavailable)", r"invalid (recipient|mailbox|address|user)",
        r"not a (valid|known) (user|mailbox|recipient)", r"does not have an account", r"illegal user",
        r"no mailbox", r"mailbox not", r"undeliverable address", r"bad (destination|recipient|address)", r"unknown or illegal alias",
        r"(account|address) (has been )?(closed|terminated|removed|deleted|cancel+ed)", r"not our customer",
        r"is not a valid mailbox", r"addressee unknown", r"recipient (not|is not) (found|valid|known)",
        r"doesn't have a .* account", r"no account", r"(unknown|invalid) e-?mail", r"mailbox unavailable",
        r"address couldn't be found", r"invalid \S+ (delivery )?userid",
        # A reply that names only the recipient and the word "Rejected".
        r"\b\d{3} [^\s@]+@\S+ rejected\s*$",
    )),
    ("expired", _patterns(r"timed? ?out", r"giving up on", r"expired", r"will retry", r"still trying", r"deferred", r"no answer from")),
    ("blocked", _patterns(
        r"access denied", r"connection (refused|rejected|reset)", r"remote protocol error", r"service unavailable", r"not allowed", r"denied",
        r"policy", r"prohibited", r"rejected by", r"ip address", r"\bhelo\b", r"try again later",
    )),
]
# An unknown mailbox reported after the message body was sent (in reply to
# the end of DATA) is a content filter speaking, not a missing mailbox,
# unless the server also sent the user-unknown status 5.1.1.
DATA_PHASE = _patterns(
    r"after end of data", r"end of data command", r"after data", r"smtp command\W+data\b",
    # A reply with an empty address slot ("550 : User unknown") concerns the
    # whole message, which happens at DATA, not one recipient at RCPT.
    r"\b5\d\d:? : ",
)
USER_UNKNOWN_STATUS = re.compile(r"(?<![\d.])5\.1\.1(?![\d.])")
RCPT_PHASE = _patterns(r"\brcpt(\b|_to)", r"recipient address rejected")
# A notice's summary of the envelope ("MAIL FROM: a@b", then "RCPT TO: c@d",
# each alone on its line, as Apache James lists its "Message details") names
# the addresses, not the SMTP command the server replied to.
ENVELOPE_LINE = _patterns(r"^[ \t]*(mail from|rcpt to):[ \t]*<?[^\s<>@]+@[^\s<>]+?>?[ \t\r]*$")
# A reply code (and status) followed at once by the address: "550 <a@b>: …",
# "550 a@b... No such user", "542 a@b Rejected".
ADDRESS_ECHO = re.compile(
    r"\b[45]\d\d:?(?: [245]\.\d{1,3}\.\d{1,3})? <?[^\s<>@]+@[^\s<>]+?>?(?::|\.\.\.| rejected)", re.IGNORECASE
)
# A local-delivery agent's own verdict, as IMail words it: "Unknown user: a@b".
LOCAL_VERDICT = _patterns(r"^\s*(unknown user|invalid final delivery userid|no such user|user unknown):\s*<?[^\s<>@]+@")
# Replies taken as a missing mailbox in any SMTP phase: the Exchange 5.5 IMS
# code for an unknown recipient, RFC 5321's standard 550 text, and Yahoo's
# reply for an unknown account, which it sends after DATA.
# NOTE: RFC 5321 also allows the standard 550 text for policy rejections.
ADDRESS_VERDICT = _patterns(
    r"\(000C05A6\)", r"\b550[ -]+requested action not taken: mailbox unavailable",
    r"delivery error: dd this user doesn't have",
)
# Provider replies read by the domain their notices come from. Verizon's
# e-mail-to-SMS gateway sends "no such user here" in notices that do not
# name the SMTP command. From it the reply is taken as an unknown number,
# while the same words from an unknown server could come from a filter.
PROVIDER_REPLIES = {
    "vtext.com": [("user_unknown", _patterns(r"requested action not taken: no such user here"))],
}
POSTFIX_REPLY = re.compile(r"\] said:")
USER_UNKNOWN = dict(TEXT_REASONS)["user_unknown"]
SMTP_COMMAND = re.compile(r"^\W*>>> (\w+)", re.MULTILINE)
# Used when no pattern matches: the enhanced status code's subject and detail.
STATUS_REASONS = {
    "1.1": "user_unknown",
    "1.2": "host_unknown",
    "1.3": "bad_syntax",
    "1.6": "has_moved",
    "1.10": "not_accept",
    "2.1": "suspended",
    "2.2": "mailbox_full",
    "2.3": "too_big",
    "3.4": "too_big",
    "4.4": "host_unknown",
    "4.7": "expired",
    "7.1": "blocked",
}


def find_status(text):
    """Return the first enhanced status code (such as `5.1.1`) in `text`, or ''."""
    match = STATUS.search(text or "")
    return ".".join(match.groups()) if match else ""


def find_reply_code(text):
    """Return the first three-digit SMTP reply code in `text`, or ''."""
    match = REPLY_CODE.search(text or "")
    return match.group(1) if match else ""


def classify(text, status, reply_code, action="failed", context="", remote_reply=True, reporter=""):
    """Return (reason, hard) for one failed recipient.

    `text` is the error text about the recipient, and `context` the
    report's explanation around it, which may name the SMTP phase.
    `action` is the DSN's Action field: a `delayed` report, a 4.x.x status
    or a 4xx reply is always soft, because the sender is still retrying.
    `remote_reply` is False for a DSN without a Diagnostic-Code, whose
    explanation is then the reporting MTA's own verdict. `reporter` is the
    domain the report came from, for the replies in `PROVIDER_REPLIES`.
    """
    reason = provider_reason(reporter, text)
    if not reason:
        reason = text_reason(text) or status_reason(status) or "other"
        if reason == "user_unknown" and not status.startswith("5.1."):
            reason = _recheck_user_unknown(text, status, context, remote_reply)
    temporary = action == "delayed" or status.startswith("4") or (not status and reply_code.startswith("4"))
    return reason, reason in HARD_REASONS and not temporary


def _recheck_user_unknown(text, status, context, remote_reply):
    """Return the reason for user-unknown wording that came without a 5.1.x status.

    Content filters reuse "user unknown" wording, so without a 5.1.x status
    the wording makes a hard bounce only with evidence that it concerns the
    address: see `_concerns_the_address`. A specific status of another kind
    (5.2.1 mailbox disabled, 5.7.1 policy) is the standard signal and wins
    unless the reply came at RCPT. A reply to the end of DATA is a filter
    unless the reporting MTA's own summary line gives 5.1.1.
    """
    after_data = _failed_after_data(text, context)
    from_status = status_reason(status)
    if from_status and from_status not in HARD_REASONS:
        at_rcpt = _names_rcpt(f"{text}\n{context}") and not after_data
        return "user_unknown" if at_rcpt else from_status
    if USER_UNKNOWN_STATUS.search(context) or ADDRESS_VERDICT.search(text):
        return "user_unknown"
    if after_data:
        return "filtered"
    return "user_unknown" if _concerns_the_address(text, context, remote_reply) else "filtered"


def _concerns_the_address(text, context, remote_reply):
    """Tell whether user-unknown wording is about the address rather than the content.

    It is when the reporting MTA speaks for itself (no quoted remote reply,
    or a local-delivery verdict such as "Unknown user: a@example.com"),
    when the reply came at RCPT, or when
    it starts by echoing the address ("550 <a@example.com>: User unknown")
    as per-recipient replies do. Postfix always names the command it sent
    ("in reply to RCPT TO command"), so a Postfix reply without it does not
    count as an echo.
    """
    both = f"{text}\n{context}"
    if not remote_reply or LOCAL_VERDICT.search(both):
        return True
    if _names_rcpt(both):
        return True
    return bool(ADDRESS_ECHO.search(text)) and not POSTFIX_REPLY.search(both)


def _names_rcpt(text):
    """Tell whether `text` states that the reply came to RCPT TO, leaving out any summary of the envelope."""
    return bool(RCPT_PHASE.search(ENVELOPE_LINE.sub("", text)))


def _failed_after_data(text, context):
    """Tell whether the reply came to the end of DATA, from the report's wording or its SMTP transcript."""
    if DATA_PHASE.search(f"{text}\n{context}"):
        return True
    # In a transcript (">>> RCPT To:<…>" then "<<< 550 …"), the last command
    # sent before the user-unknown reply is the one that failed.
    replies = list(USER_UNKNOWN.finditer(context))
    if not replies:
        return False
    commands = SMTP_COMMAND.findall(context[: replies[-1].start()])
    return bool(commands) and commands[-1].upper() == "DATA"


def provider_reason(reporter, text):
    """Return the reason `PROVIDER_REPLIES` gives the reply in `text` from `reporter`, or ''."""
    for reason, pattern in PROVIDER_REPLIES.get(reporter.lower(), ()):
        if pattern.search(text or ""):
            return reason
    return ""


def text_reason(text):
    for reason, pattern in TEXT_REASONS:
        if pattern.search(text or ""):
            return reason
    return ""


def status_reason(status):
    if not status:
        return ""
    _, subject, detail = status.split(".")
    return STATUS_REASONS.get(f"{subject}.{detail}", "")
