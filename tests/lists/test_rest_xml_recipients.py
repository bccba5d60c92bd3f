"""The XML encoder of recipient listing pages writes what the generic JSON-to-XML path writes."""

import json
from types import SimpleNamespace

import pytest

from lists.rest import FieldColumn, recipient_encoder
from lists.rest_xml_recipients import recipient_xml_encoder
from mailup_sim.rest_xml import to_xml
from mailup_sim.rest_xml_writer import DECLARATION, INSTANCE_NAMESPACE

DEFINITIONS = (
    FieldColumn(1, "nome"),
    FieldColumn(2, "città & <provincia>"),
    FieldColumn(3, "tab\tcr\rnul\x00"),
    FieldColumn(39, "campo39"),
)
# Values the fields column could hold: text that needs escaping or
# cleaning, surrogate code points alone and in a pair, and JSON values
# other than strings.
ODD_VALUES = [
    "",
    "Ada",
    "Rossi & Figli <srl> ]]>",
    "a\rb\r\n",
    "ok\x00\x07\x1f\ufffe\uffff!",
    "\ud800 lone",
    "\ud83d\ude00 two code points of one pair",
    "😀 ünïcödé \u2028 \x85",
    "  ",
    0,
    7,
    2.5,
    1e-07,
    True,
    False,
    None,
    {"nested": ["x", None]},
    [],
]


def recipient(pk, email, prefix="", number=None, fields=None, name=""):
    return SimpleNamespace(
        pk=pk, name=name, email=email, mobile_prefix=prefix, mobile_number=number, fields=fields or {}
    )


def odd_recipients():
    yield recipient(1, "plain@example.com")
    yield recipient(5, "named@example.com", name="Anna <Rossi> & \"Figli\"")
    yield recipient(2, None, "+39", "3331234567")
    yield recipient(3, "a&b<c>@example.com", "+39", "", {"1": "Ada", "2": "x & y"})
    yield recipient(4, "cr\r@example.com", "", "333\ud800", {"99": "not a defined field"})
    for index, value in enumerate(ODD_VALUES):
        yield recipient(10 + index, f"odd{index}@example.com", fields={"1": value, "3": value, "39": value})


def generic_xml(definitions, recipients):
    """Write the recipients as JSON with recipient_encoder, then as XML through rest_xml."""
    encode = recipient_encoder(definitions)
    items = json.loads("[" + ", ".join(encode(item) for item in recipients) + "]")
    return to_xml(items)


def direct_xml(definitions, recipients):
    encode = recipient_xml_encoder(definitions)
    body = "".join(encode(item) for item in recipients)
    return f'{DECLARATION}<Response xmlns:i="{INSTANCE_NAMESPACE}">{body}</Response>'.encode()


@pytest.mark.parametrize("definitions", [DEFINITIONS, ()], ids=["fields", "no fields"])
def test_encoder_matches_generic_path(definitions):
    for item in odd_recipients():
        assert direct_xml(definitions, [item]) == generic_xml(definitions, [item]), item


def test_encoder_page_matches_generic_path():
    recipients = list(odd_recipients())

    assert direct_xml(DEFINITIONS, recipients) == generic_xml(DEFINITIONS, recipients)
