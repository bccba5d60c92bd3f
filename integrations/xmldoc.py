"""Parsing of the `xmlDoc` of WSMailUpImport: `<subscribers><subscriber email="…" Prefix="…" Number="…" Name="…">`.

Each `<subscriber>` contains `<campoN>` elements for fields 1 to 39 (other N,
such as the `campo0` of PyPI django-mailup, are ignored). The document is
read with lxml's iterparse, one subscriber at a time. A document type
declaration is rejected before parsing, and the parser neither resolves
entities nor loads anything from the network, so entity bombs and
external entities change nothing.
"""

import io
import re

from lxml import etree

from integrations.importing import InputRejected, Record
from lists.errors import InvalidContact
from lists.models import MAX_FIELD_ID
from lists.services import Contact, ImportRow
from lists.validation import CONTROL_CHARACTERS, normalize_email, normalize_mobile

# lxml options for XML that callers upload: no entities, DTD or network
# access, no huge trees, and no comments or processing instructions, which
# would split an element's text.
SAFE_PARSE_OPTIONS = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}

XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
DOCTYPE = re.compile(r"<!DOCTYPE|<!ENTITY", re.IGNORECASE)
FIELD_TAG = re.compile(r"^campo(\d{1,2})$")
# MailUp's documented limits for an xmlDoc.
MAX_EMAIL_LENGTH = 50
MAX_VALUE_LENGTH = 100
MAX_ASCII_VALUE_LENGTH = 200
MERGED_MOBILE, SPLIT_MOBILE = 1, 2


class XmlDocRejected(InputRejected):
    """The xmlDoc cannot be converted (MailUp's ReturnCode -402). The message gives the reason."""


def check(xml_doc):
    """Parse the whole document once; return how many subscribers it has, or raise XmlDocRejected.

    A pipe character in any value fails the conversion at MailUp, so it
    fails here too.
    """
    count = 0
    for subscriber in _subscribers(xml_doc):
        values = [*subscriber.attrib.values(), *(child.text or "" for child in subscriber)]
        if any("|" in value for value in values):
            raise XmlDocRejected(f"Subscriber {count + 1} has a pipe character (|) in a value, which MailUp cannot import.")
        count += 1
    return count


def read_records(xml_doc, mailing_list, mobile_input_type=SPLIT_MOBILE, clear_empty=False):
    """Yield a Record per `<subscriber>`, numbered from 1.

    `clear_empty` (importType 4 to 6) makes an empty `<campoN/>` clear the
    field; otherwise it leaves the field as it is. A single space clears
    the field under every import type.
    """
    for number, subscriber in enumerate(_subscribers(xml_doc), start=1):
        email = (subscriber.get("email") or "").strip()
        try:
            row = _parse_subscriber(subscriber, mailing_list, mobile_input_type, clear_empty)
        except InvalidContact as error:
            yield Record(number, error=error.message, label=_label(email), hint=_hint(email))
            continue
        yield Record(number, row)


def _subscribers(xml_doc):
    """Yield each `<subscriber>` element, freeing it once read; raise XmlDocRejected on malformed XML."""
    if DOCTYPE.search(xml_doc):
        raise XmlDocRejected("The xmlDoc contains a document type declaration (DOCTYPE or ENTITY), which is not accepted.")
    # The text is already decoded, so its declaration may name an encoding it no longer has.
    data = XML_DECLARATION.sub("", xml_doc, count=1).encode("utf-8")
    events = etree.iterparse(
        io.BytesIO(data),
        events=("end",),
        tag="subscriber",
        **SAFE_PARSE_OPTIONS,
    )
    try:
        for _event, element in events:
            yield element
            element.clear()
            while element.getprevious() is not None:
                del element.getparent()[0]
    except etree.XMLSyntaxError as error:
        raise XmlDocRejected(f"The xmlDoc is not well-formed XML: {error}") from None


def _parse_subscriber(subscriber, mailing_list, mobile_input_type, clear_empty):
    contact = _contact(subscriber, mailing_list.default_prefix, mobile_input_type)
    return ImportRow(contact=contact, fields=_fields(subscriber, clear_empty))


def _contact(subscriber, default_prefix, mobile_input_type):
    email = (subscriber.get("email") or "").strip()
    prefix = (subscriber.get("Prefix") or "").strip()
    number = (subscriber.get("Number") or "").strip()
    if not email and not number:
        raise InvalidContact("Both the e-mail address and the mobile number are empty.")
    if len(email) > MAX_EMAIL_LENGTH:
        raise InvalidContact(f"The e-mail address is longer than {MAX_EMAIL_LENGTH} characters.")

    normalized = normalize_email(email) if email else None
    if not number:
        return Contact(email=normalized)
    whole = number if mobile_input_type == MERGED_MOBILE or not prefix else _international(prefix) + number
    mobile_prefix, mobile_number = normalize_mobile(_international(whole) if whole.startswith("+") else whole, default_prefix)
    return Contact(email=normalized, mobile_prefix=mobile_prefix, mobile_number=mobile_number)


def _international(text):
    """Write `+39…`, `0039…` or `39…` as `0039…`, the form normalize_mobile reads."""
    digits = text.lstrip("+")
    return digits if digits.startswith("00") else "00" + digits


def _fields(subscriber, clear_empty):
    fields = {}
    for child in subscriber:
        match = FIELD_TAG.match(child.tag) if isinstance(child.tag, str) else None
        if not match or not 1 <= int(match.group(1)) <= MAX_FIELD_ID:
            continue
        raw = child.text or ""
        if raw == "" and not clear_empty:
            continue
        value = "" if raw.strip() == "" else raw.strip()
        _check_value(int(match.group(1)), value)
        fields[int(match.group(1))] = value
    return fields


def _check_value(field_id, value):
    limit = MAX_ASCII_VALUE_LENGTH if value.isascii() else MAX_VALUE_LENGTH
    if len(value) > limit:
        raise InvalidContact(f"The value of campo{field_id} is longer than {limit} characters.")
    if CONTROL_CHARACTERS.search(value):
        raise InvalidContact(f"The value of campo{field_id} contains control characters.")


def _label(email):
    return CONTROL_CHARACTERS.sub("?", email)[:254]


def _hint(email):
    try:
        return Contact(email=normalize_email(email)) if email else None
    except InvalidContact:
        return None
