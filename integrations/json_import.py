"""Parsing of REST bulk imports: a JSON array of recipients, read one item at a time with ijson.

Each item has the shape of a REST recipient (`Email`, `MobilePrefix`,
`MobileNumber`, `Fields: [{"Id": 1, "Value": "…"}]`; `Name` is ignored).
An item that cannot be read becomes a rejected record; a body that is not
a JSON array rejects the whole import.
"""

import io

import ijson

from integrations.importing import InputRejected, Record
from lists.errors import ListsError
from lists.models import MAX_FIELD_ID
from lists.rest import read_contact, read_fields
from lists.services import ImportRow
from lists.validation import CONTROL_CHARACTERS
from mailup_sim.rest import RestError


# An item nests four levels deep: the array, the recipient, Fields and a field.
MAX_DEPTH = 16
NESTING_STARTS, NESTING_ENDS = ("start_map", "start_array"), ("end_map", "end_array")


class BodyRejected(InputRejected):
    """The body is not a JSON array of objects; the message gives the reason."""


def check(body):
    """Read the whole body and return how many items it has, or raise BodyRejected."""
    _check_depth(body)
    count = 0
    for _item in _items(body):
        count += 1
    return count


def _check_depth(body):
    """Raise BodyRejected for arrays or objects nested deeper than MAX_DEPTH.

    With ijson 3.6 and its yajl2_c backend, items() ran out of 2 GiB of
    memory on a 60 KB body that nests arrays 30,000 levels deep, while
    basic_parse read 100,000 levels in under 20 MB. So this scan runs first.
    """
    stream = io.BytesIO(_body_bytes(body))
    depth = 0
    try:
        for event, _value in ijson.basic_parse(stream):
            if event in NESTING_STARTS:
                depth += 1
                if depth > MAX_DEPTH:
                    raise BodyRejected(f"The body nests arrays or objects more than {MAX_DEPTH} levels deep.")
            elif event in NESTING_ENDS:
                depth -= 1
    except ijson.JSONError as error:
        raise BodyRejected(f"The body is not valid JSON: {error}") from None


def read_records(body, mailing_list, ignore_mobile=False, clear_missing=False):
    """Yield a Record per array item, numbered from 1.

    `clear_missing` (clearMissingOrEmptyFields) clears every field the item
    leaves out or sends empty; otherwise empty and missing fields are kept.
    """
    for number, item in enumerate(_items(body), start=1):
        email = item.get("Email") if isinstance(item, dict) else None
        # PostgreSQL's jsonb, where rejections are kept, cannot store NUL.
        label = CONTROL_CHARACTERS.sub("?", email)[:254] if isinstance(email, str) else ""
        try:
            row = _parse_item(item, mailing_list.default_prefix, ignore_mobile, clear_missing)
        except (RestError, ListsError) as error:
            reason = error.description if isinstance(error, RestError) else error.message
            yield Record(number, error=reason, label=label)
            continue
        yield Record(number, row)


def _items(body):
    stream = io.BytesIO(_body_bytes(body))
    try:
        first = next(ijson.parse(io.BytesIO(stream.getvalue()[:4096])), None)
        if first is None or first[1] != "start_array":
            raise BodyRejected("The body must be a JSON array of recipients.")
        yield from ijson.items(stream, "item")
    except ijson.JSONError as error:
        raise BodyRejected(f"The body is not valid JSON: {error}") from None


def _body_bytes(body):
    """Return the body as bytes without a leading UTF-8 byte order mark or whitespace.

    Some clients write a byte order mark first, which ijson rejects, and the
    array check reads only the first 4096 bytes.
    """
    data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    return data.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")


def _parse_item(item, default_prefix, ignore_mobile, clear_missing):
    if not isinstance(item, dict):
        raise RestError(400, "Each item of the array must be a recipient object.")
    if ignore_mobile:
        item = {key: value for key, value in item.items() if key not in ("MobileNumber", "MobilePrefix")}

    contact = read_contact(item, default_prefix)
    if not contact.channels:
        raise RestError(400, "The recipient needs an Email or a MobileNumber.")
    fields = read_fields(item)
    if clear_missing:
        fields = {field_id: fields.get(field_id, "") for field_id in range(1, MAX_FIELD_ID + 1)}
    else:
        fields = {field_id: value for field_id, value in fields.items() if value != ""}
    return ImportRow(contact=contact, fields=fields)
