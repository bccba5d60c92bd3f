"""Byte-exact XML responses of mailup_sim.rest_xml.

Each `<case>.json` under rest_xml_responses/ is a JSON response body, most
of them recorded from the REST views, and `<case>.xml` is the XML that the
lxml serializer of 2026-12-05 wrote for it. The serializer may change
how it works, never a byte of what it writes.
"""

import hashlib
import json
from pathlib import Path

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from mailup_sim.rest_xml import negotiate

RESPONSES = Path(__file__).parent / "rest_xml_responses"
# Responses recorded with an error status, whose root element is `Error`.
ERROR_STATUS = {"bad_request": 400, "error_with_markup": 400, "list_not_found": 404}
CASES = sorted(path.stem for path in RESPONSES.glob("*.json"))
# SHA-256 of the XML written for the two documents of sweep_documents().
SWEEP_DIGESTS = {
    "escaped": "84b5109ac23d556986a56ff1fcd7b66af8efe6db039502c8c09ca34a6ae4ae80",
    "raw": "e0b9d31f8588a7dc724fca0b91588d134bc068ed00f53b21679f58c8b76438a7",
}


def xml_response(raw, status=200):
    request = RequestFactory().get("/", HTTP_ACCEPT="application/xml")
    response = HttpResponse(raw, content_type="application/json; charset=utf-8", status=status)
    return negotiate(request, response)


def sweep_documents():
    """Yield a document with every code point as a value, as a member name and one by one as names.

    `escaped` is the JSON that json.dumps writes by default. In `raw` the
    same text is UTF-8 with lone surrogates as bytes, which json.loads
    decodes with surrogatepass. The two differ in one place: the escaped
    pair U+DBFF U+DC00 is decoded to one character, U+10FC00, while the raw
    bytes are two lone surrogates.
    """
    every_code_point = "".join(map(chr, range(0x110000)))
    document = {"All": every_code_point, every_code_point: None, "Single": {chr(code): code for code in range(0x3000)}}
    yield "escaped", json.dumps(document).encode()
    yield "raw", json.dumps(document, ensure_ascii=False).encode("utf-8", "surrogatepass")


def test_cases_found():
    assert len(CASES) >= 30
    for name in CASES:
        assert (RESPONSES / f"{name}.xml").is_file(), name


@pytest.mark.parametrize("name", CASES)
def test_response_bytes_unchanged(name):
    raw = (RESPONSES / f"{name}.json").read_bytes()
    expected = (RESPONSES / f"{name}.xml").read_bytes()

    response = xml_response(raw, ERROR_STATUS.get(name, 200))

    assert response["Content-Type"] == "application/xml; charset=utf-8"
    assert response["Content-Length"] == str(len(expected))
    assert response.content == expected


@pytest.mark.parametrize(("name", "raw"), list(sweep_documents()), ids=["escaped", "raw"])
def test_every_code_point_unchanged(name, raw):
    content = xml_response(raw).content

    assert hashlib.sha256(content).hexdigest() == SWEEP_DIGESTS[name]
