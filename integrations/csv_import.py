"""Parsing of the pipe-separated import format: the header, then one recipient per line.

FTP uploads use `|`; SendMessageNL passes its caller's separator instead.

Header cells are MailUp field ids: 111 e-mail, 222 mobile prefix, 333
mobile number, 444 whole mobile number, 1 to 39 recipient fields, an empty
cell to skip a column, plus `status` and `groups` (any letter case). Nothing
here touches the database: rows come out as lists.services.ImportRow or as
a rejection reason.
"""

from dataclasses import dataclass

from integrations.importing import InputRejected, Record
from lists.errors import InvalidContact, InvalidParameter
from lists.models import MAX_FIELD_ID, MAX_FIELD_VALUE_LENGTH, Subscription
from lists.services import Contact, ImportRow
from lists.validation import CONTROL_CHARACTERS, normalize_email, normalize_mobile, parse_id_list

SEPARATOR = "|"
BOM = b"\xef\xbb\xbf"
# A valid row is at most a few kilobytes (39 fields of 200 characters).
MAX_LINE_BYTES = 65_536
EMAIL, PREFIX, NUMBER, WHOLE_MOBILE = "111", "222", "333", "444"
STATUS, GROUPS, SKIP = "status", "groups", ""
STATUSES = {status.value: status.value for status in Subscription.Status}


class FileRejected(InputRejected):
    """The whole file cannot be imported; the message names the reason."""


class RowRejected(Exception):
    """One row cannot be imported; the message names the reason."""


@dataclass(frozen=True)
class Header:
    """Column names by position: a field id as an int, or one of the special names."""

    columns: tuple

    def index(self, name):
        return self.columns.index(name) if name in self.columns else None


def parse_header(line, separator=SEPARATOR):
    """Parse the header line, or raise FileRejected naming the first cell outside the format."""
    columns = []
    for raw in line.split(separator):
        columns.append(_parse_header_cell(raw))

    named = [column for column in columns if column != SKIP]
    for column in named:
        if named.count(column) > 1:
            raise FileRejected(f"The header names column {column} more than once.")
    if WHOLE_MOBILE in named and (PREFIX in named or NUMBER in named):
        raise FileRejected("The header has 444 (whole mobile number) together with 222 or 333. Use one or the other.")
    if PREFIX in named and NUMBER not in named:
        raise FileRejected("The header has 222 (mobile prefix) without 333 (mobile number).")
    if not {EMAIL, NUMBER, WHOLE_MOBILE} & set(named):
        raise FileRejected("The header has no e-mail (111) or mobile number (333 or 444) column.")
    return Header(tuple(columns))


def _parse_header_cell(raw):
    cell = raw.strip()
    if cell.lower() in (STATUS, GROUPS, SKIP):
        return cell.lower()
    if cell in (EMAIL, PREFIX, NUMBER, WHOLE_MOBILE):
        return cell
    if cell.isascii() and cell.isdigit() and str(int(cell)) == cell and 1 <= int(cell) <= MAX_FIELD_ID:
        return int(cell)
    raise FileRejected(
        f"Unknown header cell {cell[:40]!r}: use 111, 222, 333, 444, 1 to {MAX_FIELD_ID}, status, groups or an empty cell."
    )


def parse_row(header, line, mailing_list, group_ids, separator=SEPARATOR):
    """Turn one data line into an ImportRow, or raise RowRejected with the reason.

    `group_ids` is the set of the list's group ids.
    """
    return RowParser(header, mailing_list.default_prefix, group_ids, separator).parse(line)


class RowParser:
    """Parses the data lines of one file, with the column positions looked up once from its header.

    The checks, and the reason each rejection gives, follow the header's
    column order: the column count, the contact, the fields, the groups and
    the status.
    """

    # Group cells repeat along a file, so the parsed ids of up to this many distinct cells are cached.
    MAX_CACHED_GROUP_CELLS = 1000

    def __init__(self, header, default_prefix, group_ids, separator=SEPARATOR):
        self.separator = separator
        self.width = len(header.columns)
        self.email = header.index(EMAIL)
        self.mobile = [(name, header.index(name)) for name in (WHOLE_MOBILE, NUMBER, PREFIX) if name in header.columns]
        fields = [(position, column) for position, column in enumerate(header.columns) if isinstance(column, int)]
        self.field_positions = [position for position, _column in fields]
        self.field_ids = [column for _position, column in fields]
        self.groups = header.index(GROUPS)
        self.status = header.index(STATUS)
        self.default_prefix = default_prefix
        self.group_ids = group_ids
        self.parsed_groups = {}

    def parse(self, line):
        cells = line.split(self.separator)
        if len(cells) != self.width:
            raise RowRejected(f"The row has {len(cells)} columns but the header has {self.width}.")
        return ImportRow(
            contact=self._contact(cells),
            fields=self._fields(cells),
            group_ids=self._groups(cells[self.groups].strip()) if self.groups is not None else (),
            status=_parse_status(cells[self.status].strip()) if self.status is not None else None,
        )

    def _contact(self, cells):
        email = cells[self.email].strip() if self.email is not None else ""
        if not self.mobile:
            if not email:
                raise RowRejected("Both the e-mail address and the mobile number are empty.")
            try:
                return Contact(email=normalize_email(email))
            except InvalidContact as error:
                raise RowRejected(error.message) from None
        values = {name: cells[position].strip() for name, position in self.mobile}
        values[EMAIL] = email
        return _parse_contact(values, self.default_prefix)

    def _fields(self, cells):
        values = [cells[position].strip() for position in self.field_positions]
        if not values:
            return {}
        fields = dict(zip(self.field_ids, values))
        # One pass over all the values clears nearly every row. A row that
        # fails it is checked field by field, so the reason names the field.
        if max(map(len, values)) > MAX_FIELD_VALUE_LENGTH or CONTROL_CHARACTERS.search("".join(values)):
            return _parse_fields(fields)
        return fields

    def _groups(self, raw):
        if not raw:
            return ()
        parsed = self.parsed_groups.get(raw)
        if parsed is None:
            try:
                parsed = _parse_groups(raw, self.group_ids)
            except RowRejected as rejection:
                parsed = rejection
            if len(self.parsed_groups) < self.MAX_CACHED_GROUP_CELLS:
                self.parsed_groups[raw] = parsed
        if isinstance(parsed, RowRejected):
            raise RowRejected(str(parsed))
        return parsed


def email_cell(header, line, separator=SEPARATOR):
    """Return the e-mail cell of a data line for the report, or an empty string."""
    index = header.index(EMAIL)
    cells = line.split(separator)
    if index is None or index >= len(cells):
        return ""
    return CONTROL_CHARACTERS.sub("?", cells[index].strip())[:254]


def _parse_contact(values, default_prefix):
    email = values.get(EMAIL, "")
    mobile = _mobile_text(values)
    if not email and not mobile:
        raise RowRejected("Both the e-mail address and the mobile number are empty.")

    try:
        normalized_email = normalize_email(email) if email else None
        prefix, number = normalize_mobile(mobile, default_prefix) if mobile else ("", None)
    except InvalidContact as error:
        raise RowRejected(error.message) from None
    return Contact(email=normalized_email, mobile_prefix=prefix, mobile_number=number)


def _mobile_text(values):
    """Return the mobile number as normalize_mobile takes it: 00, country code and number, or the national number."""
    whole = values.get(WHOLE_MOBILE, "")
    if whole:
        return "00" + whole[1:] if whole.startswith("+") else whole

    number = values.get(NUMBER, "")
    prefix = values.get(PREFIX, "").lstrip("+")
    if not number or not prefix:
        return number
    return (prefix if prefix.startswith("00") else "00" + prefix) + number


def _parse_fields(values):
    fields = {}
    for column, value in values.items():
        if not isinstance(column, int):
            continue
        if len(value) > MAX_FIELD_VALUE_LENGTH:
            raise RowRejected(f"The value of field {column} is longer than {MAX_FIELD_VALUE_LENGTH} characters.")
        if CONTROL_CHARACTERS.search(value):
            raise RowRejected(f"The value of field {column} contains control characters.")
        fields[column] = value
    return fields


def _parse_groups(raw, group_ids):
    try:
        ids = parse_id_list(raw, "groups")
    except InvalidParameter as error:
        raise RowRejected(error.message) from None
    unknown = [group_id for group_id in ids if group_id not in group_ids]
    if unknown:
        raise RowRejected(f"Group {unknown[0]} is not a group of this list.")
    return tuple(ids)


def _parse_status(raw):
    if not raw:
        return None
    status = STATUSES.get(raw.lower())
    if status is None:
        raise RowRejected(f"Unknown status {raw[:40]!r}: use subscribed, pending, unsubscribed or leave it empty.")
    return status


def read_lines(stream):
    """Yield (line number, text or None, error) for each line of a binary stream.

    Strips a UTF-8 BOM from the first line and the line end (CRLF or LF)
    from every line. A line longer than MAX_LINE_BYTES, or not UTF-8,
    comes out as (number, text, reason): the text is its first
    MAX_LINE_BYTES bytes, decoded with U+FFFD replacement characters, so
    the report and a full import can still read its e-mail cell. Empty
    lines are skipped.
    """
    number = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        if number == 1 and raw.startswith(BOM):
            raw = raw[len(BOM) :]

        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            _skip_to_line_end(stream)
            start = raw[:MAX_LINE_BYTES].decode("utf-8", errors="replace")
            yield number, start, f"The line is longer than {MAX_LINE_BYTES} bytes."
            continue
        raw = raw.rstrip(b"\r\n")
        if not raw.strip():
            continue
        try:
            yield number, raw.decode("utf-8"), None
        except UnicodeDecodeError:
            yield number, raw.decode("utf-8", errors="replace"), "The line is not valid UTF-8."


def _skip_to_line_end(stream):
    while True:
        chunk = stream.readline(MAX_LINE_BYTES)
        if not chunk or chunk.endswith(b"\n"):
            return


def read_records(stream, mailing_list, separator=SEPARATOR):
    """Yield a Record for each data line of an import file, numbered by line; raise FileRejected on a bad header."""
    lines = read_lines(stream)
    header = read_header(lines, separator)
    group_ids = set(mailing_list.groups.values_list("id", flat=True))
    parser = RowParser(header, mailing_list.default_prefix, group_ids, separator)
    for number, line, error in lines:
        if error is None:
            try:
                yield Record(number, parser.parse(line))
                continue
            except RowRejected as rejection:
                error = str(rejection)
        label = email_cell(header, line, separator) if line is not None else ""
        yield Record(number, error=error, label=label, hint=_contact_hint(label))


def read_header(lines, separator=SEPARATOR):
    """Parse the first line of `lines` (from read_lines) as the header, or raise FileRejected."""
    for _number, line, error in lines:
        if error is not None:
            raise FileRejected(f"The header line is unreadable: {error}")
        return parse_header(line, separator)
    raise FileRejected("The file is empty.")


def _contact_hint(email):
    try:
        return Contact(email=normalize_email(email)) if email else None
    except InvalidContact:
        return None
