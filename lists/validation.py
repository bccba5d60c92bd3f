"""Parsing and normalisation of the values recipients are identified and described by."""

import re
import unicodedata

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from lists.errors import InvalidContact, InvalidParameter
from lists.models import MAX_FIELD_ID, MAX_FIELD_VALUE_LENGTH

# Ids are stored in 32-bit columns; anything larger cannot name a row and
# would overflow SQLite's integer binding.
MAX_ID = 2_147_483_647
FIELD_NAME = re.compile(r"^campo(\d{1,2})$", re.IGNORECASE)
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# CONTROL_CHARACTERS plus tab, LF and CR, for a value that must stay on one
# line because it becomes a mail header, a file name or part of a URL.
SINGLE_LINE_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
# C1 control characters (NEL among them) and the Unicode line and paragraph
# separators, which would break a recipient's name over lines as well.
NAME_LINE_BREAKS = re.compile(r"[\u0080-\u009f\u2028\u2029]")
# The length of Recipient.name.
RECIPIENT_NAME_MAX_LENGTH = 200
# E.164 allows at most 15 digits after the international prefix.
MAX_INTERNATIONAL_DIGITS = 15
MIN_NATIONAL_DIGITS = 6
# The plain ASCII addresses that nearly every import row contains. Each part
# is a narrower copy of the matching part of Django's EmailValidator (Django
# 5.2), so the validator accepts every address this matches. Other addresses
# still go through the validator.
_ATOM = r"[-!#$%&'*+/=?^_`{}|~0-9a-z]+"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
COMMON_EMAIL = re.compile(
    rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.(?!-)[a-z0-9-]{{1,63}}(?<!-))*\.(?!-)(?:[a-z-]{{2,63}}|xn--[a-z0-9]{{1,59}})(?<!-)\Z"
)


def normalize_email(raw):
    """Return the lower-cased address, or raise InvalidContact."""
    email = raw.strip().lower()
    if len(email) <= 254 and COMMON_EMAIL.match(email):
        return email
    if len(email) > 254 or CONTROL_CHARACTERS.search(email) or _has_invisible_characters(email):
        raise InvalidContact(f"Invalid e-mail address {raw[:80]!r}.")
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidContact(f"Invalid e-mail address {raw[:80]!r}.") from None
    return email


def _has_invisible_characters(text):
    """Tell whether `text` has a format, private-use, unassigned or surrogate character, or U+FFFD.

    Django 5.2's validator accepts format characters such as U+200B in the
    domain, because IDNA encoding drops them, so `a@b.it` followed by U+200B
    was a second recipient for the same mailbox. U+FFFD stands for bytes
    that were not valid UTF-8, so it is never what the caller typed.
    """
    return any(char == "\ufffd" or unicodedata.category(char) in ("Cf", "Co", "Cn", "Cs") for char in text)


def normalize_mobile(raw, default_prefix):
    """Split a mobile number into (prefix, number), both digits only.

    MailUp takes `00<country code><number>`; a number without the `00`
    prefix gets the list's default prefix. `+`, spaces and other characters
    are rejected, as MailUp does.
    """
    number = raw.strip()
    if not number.isascii() or not number.isdigit():
        raise InvalidContact(f"Invalid mobile number {raw[:40]!r}: use digits only, with the prefix as 00 and the country code.")

    if number.startswith("00"):
        prefix, national = _split_country_code(number[2:], raw)
    else:
        prefix, national = default_prefix, number

    country_digits = len(prefix) - 2
    if len(national) < MIN_NATIONAL_DIGITS or country_digits + len(national) > MAX_INTERNATIONAL_DIGITS:
        raise InvalidContact(f"Invalid mobile number {raw[:40]!r}: wrong number of digits.")
    return prefix, national


def normalize_dialled_mobile(raw, default_prefix):
    """Split a number written as +39…, 0039… or national digits into (prefix, number), as the SMS sends take it.

    A leading `+` is read as the `00` before the country code, and the
    rest is normalize_mobile.
    """
    number = raw.strip()
    if number.startswith("+"):
        number = "00" + number[1:]
    return normalize_mobile(number, default_prefix)


def _split_country_code(digits, raw):
    # Country calling codes form a prefix-free set, so at most one of the
    # first one, two or three digits is a known code.
    for length in (1, 2, 3):
        code = digits[:length]
        if code.isdigit() and int(code) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return "00" + code, digits[length:]
    raise InvalidContact(f"Invalid mobile number {raw[:40]!r}: unknown country code.")


def parse_id(raw, field, minimum=1):
    """Parse one integer id from `minimum` to MAX_ID, or raise InvalidParameter naming `field`."""
    text = raw.strip()
    # Python's int() raises ValueError past 4300 digits, leading zeros
    # included, so the zeros go and the length is checked before the conversion.
    number = text.lstrip("0") or "0"
    digits = text.isascii() and text.isdigit() and len(number) <= len(str(MAX_ID))
    if not digits or not minimum <= int(number) <= MAX_ID:
        raise InvalidParameter(field, f"{field} must be an integer id from {minimum} to {MAX_ID}, not {raw[:40]!r}.")
    return int(number)


def parse_id_list(raw, field, separators=","):
    """Parse ids separated by any of `separators`; empty items are skipped."""
    pattern = "[" + re.escape(separators) + "]"
    ids = []
    for item in re.split(pattern, raw):
        if item.strip():
            ids.append(parse_id(item, field))
    return list(dict.fromkeys(ids))


def parse_field_pairs(names, values):
    """Pair `campoN` names with values, both `;`-separated, into {N: value}.

    Raises InvalidParameter when the counts differ (a `;` inside a value
    breaks the pairing), a name is not campo1..campo39, or a value contains
    `--`, is longer than a field holds, or contains control characters.
    """
    if not names and not values:
        return {}

    name_items = names.split(";")
    value_items = values.split(";")
    if len(name_items) != len(value_items):
        raise InvalidParameter(
            "csvFldValues", f"csvFldNames has {len(name_items)} names but csvFldValues has {len(value_items)} values."
        )

    fields = {}
    for name, value in zip(name_items, value_items):
        fields[_parse_field_name(name)] = check_field_value(name, value)
    return fields


def _parse_field_name(name):
    match = FIELD_NAME.match(name.strip())
    if not match or not 1 <= int(match.group(1)) <= MAX_FIELD_ID:
        raise InvalidParameter("csvFldNames", f"Unknown field name {name[:40]!r}: use campo1 to campo{MAX_FIELD_ID}.")
    return int(match.group(1))


def check_recipient_name(value):
    """Return a recipient's name without surrounding blanks; raise InvalidParameter naming `Name` when it cannot be stored."""
    name = value.strip()
    if len(name) > RECIPIENT_NAME_MAX_LENGTH:
        raise InvalidParameter("Name", f"Name is longer than {RECIPIENT_NAME_MAX_LENGTH} characters.")
    if SINGLE_LINE_CONTROL_CHARACTERS.search(name) or NAME_LINE_BREAKS.search(name):
        raise InvalidParameter("Name", "Name contains control characters.")
    return name


def check_field_value(name, value):
    if "--" in value:
        raise InvalidParameter("csvFldValues", f"The value of {name} contains '--', which MailUp rejects.")
    if len(value) > MAX_FIELD_VALUE_LENGTH:
        raise InvalidParameter(
            "csvFldValues", f"The value of {name} is longer than {MAX_FIELD_VALUE_LENGTH} characters."
        )
    if CONTROL_CHARACTERS.search(value):
        raise InvalidParameter("csvFldValues", f"The value of {name} contains control characters.")
    return value
