"""DKIM: per-account keys, signatures on outgoing mail and the sink's verdict from the built-in zone."""

import dkim

from lists.models import Account
from sending import dkim_signing, dkim_verification, dns_zone
from sending.models import DkimKey
from sending.sink import store_received_message
from tests.personas import subscribe_pending


def resolve(name, timeout=5):
    return dns_zone.resolve_txt(name)


def test_keys_created_once_per_account(demo):
    account = Account.objects.get(console_id=1234)

    first = dkim_signing.account_keys(account)
    second = dkim_signing.account_keys(account)

    assert [key.algorithm for key in first] == ["rsa-sha256", "ed25519-sha256"]
    assert [key.pk for key in first] == [key.pk for key in second]
    assert DkimKey.objects.count() == 2


def test_zone_publishes_keys_for_sender_domains(demo):
    account = Account.objects.get(console_id=1234)
    rsa_key, ed_key = dkim_signing.account_keys(account)

    assert resolve(f"{rsa_key.selector}._domainkey.demo.example.") == dkim_signing.dns_record(rsa_key).encode()
    assert resolve(f"{ed_key.selector}._domainkey.demo.example") == dkim_signing.dns_record(ed_key).encode()
    assert resolve(f"{rsa_key.selector}._domainkey.other.example") is None
    assert resolve("not a name..") is None


def test_system_mail_passes_in_sink(demo, sink, http):
    subscribe_pending("carla@example.com")

    [received] = sink.wait_for(1)
    summary = http.get("/sink/api/messages").json()["messages"][0]
    assert received.dkim_result == "pass"
    assert summary["dkim"]["result"] == "pass"
    assert summary["dkim"]["domain"] == "demo.example"
    assert [item["algorithm"] for item in summary["dkim"]["signatures"]] == ["rsa-sha256", "ed25519-sha256"]
    assert [item["result"] for item in summary["dkim"]["signatures"]] == ["pass", "pass"]


def test_dkimpy_verifier_agrees(demo, sink):
    subscribe_pending("carla@example.com")

    [received] = sink.wait_for(1)
    raw = bytes(received.raw)
    assert dkim.verify(raw, dnsfunc=resolve)
    # dkimpy checks the topmost signature only; drop it to check Ed25519.
    ed25519_only = raw[raw.index(b"DKIM-Signature: v=1; a=ed25519") :]
    assert dkim.verify(ed25519_only, dnsfunc=resolve)


def test_tampered_body_fails(demo, sink):
    subscribe_pending("carla@example.com")
    [received] = sink.wait_for(1)

    changed = bytes(received.raw) + b"Appended by a relay.\r\n"
    stored = store_received_message(("127.0.0.9", 25), "x", "a@b", ["c@d"], changed)

    assert stored.dkim_result == "fail"
    assert "body hash mismatch" in stored.dkim_reason


def test_tampered_subject_fails(demo, sink):
    subscribe_pending("carla@example.com")
    [received] = sink.wait_for(1)

    changed = bytes(received.raw).replace(b"\r\nSubject: ", b"\r\nSubject: Re: ", 1)
    stored = store_received_message(("127.0.0.9", 25), "x", "a@b", ["c@d"], changed)

    assert stored.dkim_result == "fail"
    assert stored.dkim_reason == "signature did not verify"
    assert [item["result"] for item in stored.dkim_signatures] == ["fail", "fail"]


def test_unsigned_message_has_verdict_none(demo):
    stored = store_received_message(("127.0.0.9", 25), "x", "a@b", ["c@d"], b"From: a@b\r\nSubject: x\r\n\r\nhi\r\n")

    assert stored.dkim_result == "none"
    assert stored.dkim_signatures == []


def test_unknown_selector_fails(demo, sink):
    subscribe_pending("carla@example.com")
    [received] = sink.wait_for(1)

    changed = bytes(received.raw).replace(b"s=mu1234r;", b"s=gone1r;")
    stored = store_received_message(("127.0.0.9", 25), "x", "a@b", ["c@d"], changed)

    assert stored.dkim_signatures[0]["result"] == "fail"
    assert stored.dkim_signatures[0]["reason"] == "no DKIM key published at gone1r._domainkey.demo.example."


def _signed_message(account):
    raw = b"From: Demo <newsletter@demo.example>\r\nTo: anna@example.com\r\nSubject: Hi\r\n\r\nHello\r\n"
    return dkim_signing.sign(raw, "demo.example", dkim_signing.account_keys(account))


def test_verifier_passes_both_signatures(demo):
    raw = _signed_message(Account.objects.get(console_id=1234))

    result, domain, _reason, signatures = dkim_verification.verify(raw, dns_zone.resolve_txt)

    assert (result, domain) == ("pass", "demo.example")
    assert [item["result"] for item in signatures] == ["pass", "pass"]


def test_revoked_key_fails(demo):
    raw = _signed_message(Account.objects.get(console_id=1234))

    _result, _domain, _reason, signatures = dkim_verification.verify(raw, lambda name: b"v=DKIM1; k=rsa; p=")

    assert signatures[0]["result"] == "fail"
    assert signatures[0]["reason"] == "key revoked: the record's p= is empty"


def test_key_of_other_type_fails(demo):
    account = Account.objects.get(console_id=1234)
    raw = _signed_message(account)
    _rsa_key, ed_key = dkim_signing.account_keys(account)
    ed_record = dkim_signing.dns_record(ed_key).encode()

    _result, _domain, _reason, signatures = dkim_verification.verify(raw, lambda name: ed_record)

    assert signatures[0]["result"] == "fail"
    assert signatures[0]["reason"] == "ed25519 key does not match a=rsa-sha256"
    assert signatures[1]["result"] == "pass"
