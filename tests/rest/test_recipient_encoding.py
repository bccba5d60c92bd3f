"""The recipient listing's hand-written JSON is byte for byte what json.dumps writes for the shaped recipient."""

import json

import pytest

from lists.models import Recipient
from lists.rest import FieldColumn, recipient_encoder, recipient_shaper

DEFINITIONS = (
    FieldColumn(field_id=1, name="nome"),
    FieldColumn(field_id=2, name='città "quoted" \\ back'),
    FieldColumn(field_id=3, name="emoji \U0001f600 and \u2028"),
    FieldColumn(field_id=39, name="last"),
)


@pytest.mark.parametrize(
    "recipient",
    [
        Recipient(pk=1, email="a@example.com", mobile_prefix="", mobile_number=None, fields={}),
        Recipient(pk=2, email=None, mobile_prefix="0039", mobile_number="3331234567", fields={"1": "Mario"}),
        Recipient(
            pk=3,
            email="b@example.com",
            mobile_prefix="",
            mobile_number="",
            fields={"1": "tab\there", "2": 'quote " and \\', "3": "ñ \x00 \U0001f600", "39": "x", "40": "ignored"},
        ),
        Recipient(pk=4, email="c@example.com", fields={"1": 5, "2": 1.5, "3": None, "39": ["a", {"b": True}]}),
        Recipient(pk=6, email="", mobile_prefix="0039", mobile_number=None, fields={"1": "", "2": "", "39": 0}),
        Recipient(pk=7, email="e\u00e8@example.com", mobile_prefix=None, mobile_number="333", fields={}),
    ],
)
def test_encoder_matches_json_dumps(recipient):
    expected = json.dumps(recipient_shaper(None, DEFINITIONS)(recipient))

    assert recipient_encoder(DEFINITIONS)(recipient) == expected


def test_encoder_without_definitions():
    recipient = Recipient(pk=5, email="d@example.com", fields={"1": "x"})

    assert recipient_encoder(())(recipient) == json.dumps(recipient_shaper(None, [])(recipient))
