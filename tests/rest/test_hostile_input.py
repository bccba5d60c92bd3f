"""Hostile REST input gets 400 with the error envelope, never a 500 or a changed row."""

from urllib.parse import quote

import pytest

from lists.models import Recipient
from tests.rest.conftest import assert_envelope


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"Email": "a\xff@example.com"}',
        b'{"Email": "nul\\u0000@example.com"}',
        b'{"Email": "x@example.com", "Fields": [{"Id": 1, "Value": "a\\u0000b"}]}',
        b'{"Email": "x@example.com", "Fields": [{"Id": "1e400", "Value": "a"}]}',
        # Superscript two passes str.isdigit() but int() rejects it.
        '{"Email": "x@example.com", "Fields": [{"Id": "\u00b2", "Value": "a"}]}'.encode(),
        b'{"Email": "x@example.com", "Fields": {"Id": 1}}',
        b'{"Email": ["x@example.com"]}',
        b'{"Email": "' + b"a" * 300 + b'@example.com"}',
        b'"just a string"',
    ],
)
def test_bad_recipient_body_is_400(api, body):
    response = api.post("/List/1/Recipient", data=body)
    assert_envelope(response, 400, "BadRequest")
    assert not Recipient.objects.exists()


@pytest.mark.parametrize(
    "expression",
    [
        "Email=='a\x00b'",
        "Email.Contains('a\x00b')",
        "Email=='" + "x" * 5000 + "'",
        "((((((((((Email=='a'))))))))))" * 50,
    ],
)
def test_bad_filter_is_400(api, expression):
    response = api.get("/List/1/Recipients/Subscribed?filterby=" + quote(expression))
    assert_envelope(response, 400, "BadRequest")


@pytest.mark.parametrize("depth", [51, 900, 3000])
def test_deeply_nested_filter_is_400(api, depth):
    expression = "(" * depth + "Email=='a'" + ")" * depth
    response = api.get("/List/1/Recipients/Subscribed?filterby=" + quote(expression))
    assert response.status_code == 400


def test_huge_page_values(api):
    response = api.get("/Recipient/DynamicFields?pageNumber=99999999999999999999&pageSize=99999999999999999999")
    assert response.status_code == 200
    assert response.json()["Items"] == []


@pytest.mark.parametrize("body", [{"Name": "a\x00b"}, {"Name": "ok", "Notes": "\x07"}, {"Name": 5}])
def test_bad_group_body_is_400(api, body):
    assert_envelope(api.post("/List/1/Group", json=body), 400, "BadRequest")


@pytest.mark.parametrize("value", ["\u00b2", " \u00b2 ", "\u0661"])
def test_non_ascii_digit_ids_are_400(api, value):
    response = api.post("/Email/Send", json={"Email": "x@example.com", "idMessage": value})
    assert_envelope(response, 400, "BadRequest")

    response = api.put("/Recipient/Detail", json={"idRecipient": value, "Email": "x@example.com"})
    assert_envelope(response, 400, "BadRequest")


def test_body_over_memory_limit_is_400(api, settings):
    # Django raises RequestDataTooBig past DATA_UPLOAD_MAX_MEMORY_SIZE, which must not become a 500.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024

    response = api.post("/List/1/Recipient", json={"Email": "big@example.com", "Name": "x" * 2000})

    envelope = assert_envelope(response, 400, "BadRequest")
    assert "larger than 1024 bytes" in envelope["ErrorDescription"]
    assert not Recipient.objects.exists()


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        ("/List/1/Group", b'{"Name": "a\\ud800b", "Notes": ""}', "The value Name "),
        ("/List/1/Recipient", b'{"Email": "x@example.com", "Fields": [{"Id": 1, "Value": "\\uDC00"}]}', "Fields[0].Value"),
        ("/List/1/Email", b'{"Subject": "\\ud83d", "Content": "<p>x</p>"}', "The value Subject "),
        ("/List/1/Tag", b'"\\ud800"', "The request body "),
    ],
)
def test_lone_surrogate_escape_is_400(api, path, body, named):
    response = api.post(path, data=body)

    description = assert_envelope(response, 400, "BadRequest")["ErrorDescription"]
    assert named in description
    assert "surrogate" in description


def test_surrogate_pair_escape_is_kept(api):
    response = api.post("/List/1/Group", data=b'{"Name": "smile \\ud83d\\ude00", "Notes": ""}')

    assert response.status_code == 200
    assert response.json()["Name"] == "smile \U0001f600"
