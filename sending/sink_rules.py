"""The sink's per-recipient behaviour as every ISP: stored rules first, then magic addresses.

A magic address needs no configuration: its local part, or the part
before `+` or `-`, names the behaviour, at any domain (`bounce@example.com`,
`softbounce+7@gmail.test`, `complaint-anna@libero.test`).
"""

import fnmatch
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from sending.models import SinkRule

Behaviour = SinkRule.Behaviour


@dataclass(frozen=True)
class Decision:
    """The sink's behaviour for one recipient, with the SMTP details it needs."""

    behaviour: str
    smtp_code: int = 250
    enhanced_status: str = "2.0.0"
    message: str = ""
    delay_seconds: float = 0
    # The stored rule behind the decision, or None for a magic address or the default.
    rule_id: int | None = None

    @property
    def reply(self):
        """The SMTP reply line for defer and reject."""
        return f"{self.smtp_code} {self.enhanced_status} {self.message}".strip()


ACCEPT = Decision(Behaviour.ACCEPT)
# Another process (the web server's rule API) changes the rules; the sink
# applies the change within this many seconds.
RULES_CACHE_SECONDS = 1.0
_rules_cache = {"rules": None, "loaded_at": 0.0}
_rules_lock = threading.Lock()
# Wait of a slow reply when no rule sets one; below the 30-second default
# SMTP_TIMEOUT_SECONDS, so the relay still gets its reply.
SLOW_ANSWER_SECONDS = 5
# Local part (or its part before "+" or "-") of each magic address.
MAGIC_ADDRESSES = {
    "bounce": Decision(Behaviour.BOUNCE, 550, "5.1.1", "The email account that you tried to reach does not exist."),
    "hardbounce": Decision(Behaviour.BOUNCE, 550, "5.1.1", "The email account that you tried to reach does not exist."),
    "nodomain": Decision(Behaviour.BOUNCE, 550, "5.1.2", "Host or domain name not found."),
    "softbounce": Decision(Behaviour.BOUNCE, 552, "5.2.2", "The email account that you tried to reach is over quota."),
    "complaint": Decision(Behaviour.COMPLAINT),
    "ooto": Decision(Behaviour.AUTO_REPLY, message="I am out of the office and will read your message when I return."),
    "autoreply": Decision(Behaviour.AUTO_REPLY, message="Thank you for your message. This is an automatic reply."),
    "defer": Decision(Behaviour.DEFER, 451, "4.7.1", "Greylisted, please try again later."),
    "reject": Decision(Behaviour.REJECT, 550, "5.1.1", "User unknown."),
    "disconnect": Decision(Behaviour.DISCONNECT),
    "slow": Decision(Behaviour.SLOW, delay_seconds=SLOW_ANSWER_SECONDS),
}
DEFAULT_REPLIES = {
    Behaviour.DEFER: (451, "4.7.1", "Try again later."),
    Behaviour.REJECT: (550, "5.1.1", "User unknown."),
    Behaviour.BOUNCE: (550, "5.1.1", "User unknown."),
}


def decide(address):
    """Return the Decision for one recipient address."""
    address = (address or "").strip().lower()
    for rule in _active_rules():
        if matches(rule.pattern, address):
            return _from_rule(rule)
    return _magic(address) or ACCEPT


def _active_rules():
    """Return the active rules in the order they are tried, read again at most every RULES_CACHE_SECONDS.

    The sink decides for every recipient, and one query each cost it more
    than the rule matching. A save or delete in this process clears the
    copy at once, through the signal handler below.
    """
    with _rules_lock:
        if _rules_cache["rules"] is not None and time.monotonic() - _rules_cache["loaded_at"] <= RULES_CACHE_SECONDS:
            return _rules_cache["rules"]
    rules = list(SinkRule.objects.filter(active=True))
    with _rules_lock:
        _rules_cache.update(rules=rules, loaded_at=time.monotonic())
    return rules


@receiver([post_save, post_delete], sender=SinkRule)
def _forget_rules(**kwargs):
    with _rules_lock:
        _rules_cache["rules"] = None


def matches(pattern, address):
    """Tell whether a rule pattern (a glob on the address, or a bare domain) matches `address`."""
    pattern = pattern.strip().lower()
    if "@" not in pattern and not any(character in pattern for character in "*?["):
        return address.rpartition("@")[2] == pattern
    return fnmatch.fnmatchcase(address, pattern)


def _magic(address):
    local = address.partition("@")[0]
    for separator in ("+", "-"):
        local = local.split(separator, 1)[0]
    return MAGIC_ADDRESSES.get(local)


def _from_rule(rule):
    code, status, message = DEFAULT_REPLIES.get(rule.behaviour, (250, "2.0.0", ""))
    delay = rule.delay_seconds
    if delay is None and rule.behaviour == Behaviour.SLOW:
        delay = SLOW_ANSWER_SECONDS
    elif delay is None:
        delay = settings.SINK_REPORT_DELAY_SECONDS if rule.behaviour in REPORTS else 0
    return Decision(
        rule.behaviour,
        rule.smtp_code or code,
        rule.enhanced_status or status,
        rule.message or message,
        delay,
        rule.pk,
    )


# Behaviours that accept the message and send a report to the inbound MX later.
REPORTS = {Behaviour.BOUNCE, Behaviour.COMPLAINT, Behaviour.AUTO_REPLY}
