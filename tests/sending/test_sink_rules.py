"""The sink's choice of behaviour per recipient: stored rules, their order, magic addresses."""

import pytest

from sending import services
from sending import sink_rules as rules
from sending.models import SinkRule

Behaviour = SinkRule.Behaviour


@pytest.mark.parametrize(
    ("address", "behaviour"),
    [
        ("bounce@example.com", Behaviour.BOUNCE),
        ("Bounce+7@Example.com", Behaviour.BOUNCE),
        ("softbounce-anna@gmail.test", Behaviour.BOUNCE),
        ("complaint@libero.test", Behaviour.COMPLAINT),
        ("ooto@example.com", Behaviour.AUTO_REPLY),
        ("defer@example.com", Behaviour.DEFER),
        ("reject@example.com", Behaviour.REJECT),
        ("disconnect@example.com", Behaviour.DISCONNECT),
        ("slow@example.com", Behaviour.SLOW),
        ("anna@example.com", Behaviour.ACCEPT),
        ("bouncer@example.com", Behaviour.ACCEPT),
    ],
)
def test_magic_address_behaviour(db, address, behaviour):
    assert rules.decide(address).behaviour == behaviour


def test_softbounce_reports_mailbox_full(db):
    decision = rules.decide("softbounce@example.com")

    assert decision.enhanced_status == "5.2.2"
    assert decision.smtp_code == 552


@pytest.mark.parametrize(
    ("pattern", "address", "expected"),
    [
        ("gmail.test", "anna@gmail.test", True),
        ("gmail.test", "anna@mail.gmail.test", False),
        ("*@gmail.test", "anna@gmail.test", True),
        ("*.gmail.test", "anna@mail.gmail.test", True),
        ("vip-*@example.com", "vip-anna@example.com", True),
        ("vip-*@example.com", "anna@example.com", False),
        ("ANNA@Example.com", "anna@example.com", True),
    ],
)
def test_rule_pattern_matching(pattern, address, expected):
    assert rules.matches(pattern, address) is expected


def test_rule_beats_magic_and_priority_orders(db):
    services.save_sink_rule({"pattern": "example.com", "behaviour": "defer", "priority": 50})
    services.save_sink_rule({"pattern": "bounce@example.com", "behaviour": "accept", "priority": 10})

    assert rules.decide("bounce@example.com").behaviour == Behaviour.ACCEPT
    assert rules.decide("anna@example.com").behaviour == Behaviour.DEFER
    assert rules.decide("bounce@other.test").behaviour == Behaviour.BOUNCE


def test_inactive_rule_is_ignored(db):
    services.save_sink_rule({"pattern": "example.com", "behaviour": "reject", "active": False})

    assert rules.decide("anna@example.com").behaviour == Behaviour.ACCEPT


def test_rule_defaults_fill_reply(db):
    services.save_sink_rule({"pattern": "example.com", "behaviour": "defer"})

    decision = rules.decide("anna@example.com")

    assert decision.reply == "451 4.7.1 Try again later."


def test_slow_rule_waits_by_default(db):
    services.save_sink_rule({"pattern": "example.com", "behaviour": "slow"})

    assert rules.decide("anna@example.com").delay_seconds == rules.SLOW_ANSWER_SECONDS
