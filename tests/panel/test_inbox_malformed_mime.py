"""Sink messages that Python's email package cannot fully parse: the inbox page still shows them."""

import pytest

from sending.models import SinkMessage
from sending.sink import parse_message

pytestmark = pytest.mark.django_db

BAD_MESSAGE_ID = b"Subject: Broken id\r\nMessage-ID: <<x>>\r\n\r\nbody\r\n"
DEEP_MULTIPART = b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (level, level) for level in range(2000))


def stored(raw):
    return SinkMessage.objects.create(
        peer_ip="127.0.0.10", peer_port=1, rcpt_to=["inbox@example.com"], subject="Malformed",
        account_console_id=1234, size=len(raw), raw=raw,
    )  # fmt: skip


def test_unparsable_header_shows_raw_text():
    headers = dict(parse_message(BAD_MESSAGE_ID)["headers"])

    assert headers["Message-ID"] == "<<x>>"
    assert headers["Subject"] == "Broken id"


def test_deep_multipart_shows_top_headers():
    parts = parse_message(DEEP_MULTIPART)

    assert parts["headers"][0][0] == "Content-Type"
    assert parts["attachments"] == []


@pytest.mark.parametrize("raw", [BAD_MESSAGE_ID, DEEP_MULTIPART])
@pytest.mark.parametrize("tab", ["html", "headers"])
def test_inbox_detail_opens_malformed_message(viewer, raw, tab):
    message = stored(raw)

    response = viewer.get(f"/console/inbox/{message.pk}", {"tab": tab})

    assert response.status_code == 200
