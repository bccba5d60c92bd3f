"""The sink's reports read back by the inbound MX's parser: each says what the sink meant."""

from sending.inbound.parsing import parse_report
from sending import sink_reports as reports
from sending import sink_rules as rules

ORIGINAL = (
    b"From: Demo <newsletter@demo.example>\r\n"
    b"To: anna@example.com\r\n"
    b"Subject: =?utf-8?q?Novit=C3=A0?=\r\n"
    b"Message-ID: <d7.s3@c1234.localhost>\r\n"
    b"X-MailupSim-Delivery: 7\r\n"
    b"\r\n"
    b"Ciao\r\n"
)


def test_dsn_reads_as_hard_bounce():
    decision = rules.MAGIC_ADDRESSES["bounce"]
    raw = reports.delivery_status_notification(ORIGINAL, "d-7@bounces.example", "anna@example.com", decision)

    report = parse_report(raw)

    assert report.outcome == "hard_bounce"
    assert [recipient.address for recipient in report.recipients] == ["anna@example.com"]
    assert report.recipients[0].status == "5.1.1"
    assert report.original["x-mailupsim-delivery"] == "7"


def test_mailbox_full_dsn_reads_as_soft_bounce():
    decision = rules.MAGIC_ADDRESSES["softbounce"]
    raw = reports.delivery_status_notification(ORIGINAL, "d-7@bounces.example", "anna@example.com", decision)

    assert parse_report(raw).outcome == "soft_bounce"


def test_nodomain_dsn_reads_as_host_unknown():
    decision = rules.MAGIC_ADDRESSES["nodomain"]
    raw = reports.delivery_status_notification(ORIGINAL, "d-7@bounces.example", "anna@example.com", decision)

    assert parse_report(raw).recipients[0].reason == "host_unknown"


def test_arf_reads_as_complaint():
    raw = reports.feedback_report(ORIGINAL, "anna@example.com", "127.0.0.10")

    report = parse_report(raw)

    assert report.outcome == "complaint"
    assert report.feedback_type == "abuse"
    assert report.original["message-id"] == "<d7.s3@c1234.localhost>"


def test_auto_reply_reads_as_auto_reply():
    decision = rules.MAGIC_ADDRESSES["ooto"]
    raw = reports.auto_reply(ORIGINAL, "d-7@bounces.example", "anna@example.com", decision)

    report = parse_report(raw)

    assert report.outcome == "auto_reply"
    assert report.recipients == []


HOSTILE_REPORTS = [
    b"",
    b"\x00\xff\xfe",
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\n"
    b"Content-Type: message/delivery-status\r\n\r\nFinal-Recipient: \r\nAction: \r\nStatus: 9.9\r\n\r\n--b--",
    b"Content-Type: message/feedback-report\r\n\r\n\x00\x00",
    b"From: MAILER-DAEMON\r\nSubject: Undeliverable\r\nX-Failed-Recipients: ,,,\r\n\r\n",
    b"Content-Type: text/plain; charset=bogus\r\nFrom: postmaster@x\r\nSubject: failure notice\r\n\r\n\xff a@b.c 550 user unknown",
    b'From: x\r\n\r\n{"notificationType": 5}',
    b'From: x\r\n\r\n{"Type": "Notification", "Message": "[1, 2]"}',
    b'From: x\r\n\r\n{"notificationType": "Bounce", "bounce": {"bouncedRecipients": [5, "a"]}}',
    b'From: x\r\n\r\n{"notificationType": "Complaint", "complaint": [], "mail": 3}',
    b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: multipart/alternative\r\n\r\nboundary=zz\r\n--a--",
]


def test_hostile_reports_parse_without_error():
    for raw in HOSTILE_REPORTS:
        report = parse_report(raw)
        assert report.kind in {"bounce", "complaint", "auto_reply", "delivered", "unknown"}


def test_null_sender_gets_no_bounce(monkeypatch):
    from sending import sink

    sent = []
    monkeypatch.setattr(reports, "send_to_inbound_mx", lambda *args: sent.append(args))

    sink.send_report(ORIGINAL, "<>", "anna@example.com", rules.MAGIC_ADDRESSES["bounce"], "127.0.0.10")
    sink.send_report(ORIGINAL, "", "anna@example.com", rules.MAGIC_ADDRESSES["ooto"], "127.0.0.10")
    sink.send_report(ORIGINAL, "<>", "anna@example.com", rules.MAGIC_ADDRESSES["complaint"], "127.0.0.10")

    assert [envelope_to for _, envelope_to, _ in sent] == [reports.feedback_loop_address()]
