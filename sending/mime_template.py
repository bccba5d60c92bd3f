"""A campaign's MIME message built once, then filled for each recipient by joining strings.

Building an EmailMessage per recipient spends most of its time in the
email package's header objects and folding. Here the headers that every recipient shares are encoded
once per campaign, the merge tags are split out of the bodies once, and a
delivery joins its values into the parts. The bytes match what
EmailMessage with rendering.MESSAGE_POLICY produces: CRLF line ends, 7bit
or 8bit UTF-8 bodies while every line fits in 998 bytes, quoted-printable
otherwise. Attachments are encoded once per campaign and follow the body
in a multipart/mixed message, as EmailMessage.add_attachment nests them.

`fill` returns None when a message needs the email package after all (a
non-ASCII recipient address, or a body containing the boundary), and the
caller then builds it the slow way.
"""

import base64
import binascii
import uuid
from dataclasses import dataclass, field
from email.message import MIMEPart

from sending.merge_tags import compile_tags, fill_tags
from sending.rendering import MESSAGE_POLICY

MAX_LINE_BYTES = 998
# Text bytes per RFC 2047 encoded word: 45 bytes make 60 base64 characters,
# so a word is 72 characters long, under the 75 that RFC 2047 allows.
ENCODED_WORD_BYTES = 45


@dataclass
class MimeTemplate:
    subject: list
    text: list
    html: list
    preheader: list | None
    shared_headers: str
    boundary: str
    fixed_subject: bytes | None = None
    # Each attachment as a finished MIME part, and the boundary that
    # separates them from the body.
    attachment_parts: list = field(default_factory=list)
    mixed_boundary: str = ""


def build(subject, text, html, preheader, shared_headers, attachments=()):
    """Compile a campaign's parts.

    `shared_headers` is a list of (name, value) for every recipient, and
    `attachments` a list of (filename, content type, bytes).
    """
    boundary = f"=_mailupsim_{uuid.uuid4().hex}"
    for name, value in shared_headers:
        if "\r" in value or "\n" in value:
            raise ValueError(f"Header {name} contains a line break: {value!r}")
    lines = [f"{name}: {_encode_header(value)}" for name, value in shared_headers]
    subject_parts = compile_tags(subject)
    template = MimeTemplate(
        subject=subject_parts,
        text=compile_tags(text),
        html=compile_tags(html),
        preheader=compile_tags(preheader) if preheader else None,
        shared_headers="\r\n".join(lines),
        boundary=boundary,
        attachment_parts=[_attachment_part(*attachment) for attachment in attachments],
        mixed_boundary=f"=_mailupsim_mixed_{uuid.uuid4().hex}",
    )
    if len(subject_parts) == 1:
        template.fixed_subject = _subject_header(template, {})
    return template


def fill(template, values, own_headers, insert_preheader):
    """Return the message bytes for one recipient, or None when it must be built by the email package.

    `own_headers` lists this recipient's (name, value) headers, written
    before the shared ones. `insert_preheader(html, preheader)` places the
    merged pre-header in the merged HTML.
    """
    html = fill_tags(template.html, values, escape_values=True)
    text = fill_tags(template.text, values, escape_values=False)
    if template.preheader:
        html = insert_preheader(html, fill_tags(template.preheader, values, escape_values=True))
    subject = _subject_header(template, values)

    bodies = [("plain", _body_bytes(text))]
    if html.strip():
        bodies.append(("html", _body_bytes(html)))
    boundaries = (template.boundary.encode("ascii"), template.mixed_boundary.encode("ascii"))
    if any(boundary in data for boundary in boundaries for _subtype, (_encoding, data) in bodies):
        return None
    if any(not value.isascii() or "\r" in value or "\n" in value for _name, value in own_headers):
        return None
    head = "\r\n".join(f"{name}: {value}" for name, value in own_headers).encode("ascii")
    return head + b"\r\nSubject: " + subject + b"\r\n" + _mime_tail(template, bodies)


def _subject_header(template, values):
    """Return the encoded subject; a subject without merge tags is encoded once per campaign."""
    if template.fixed_subject is not None:
        return template.fixed_subject
    subject = " ".join(fill_tags(template.subject, values, escape_values=False).split())
    return _encode_header(subject).encode("ascii")


def _mime_tail(template, bodies):
    shared = template.shared_headers.encode("ascii") + b"\r\nMIME-Version: 1.0\r\n"
    content = _content(template, bodies)
    if not template.attachment_parts:
        return shared + content

    boundary = template.mixed_boundary.encode("ascii")
    out = [shared, b'Content-Type: multipart/mixed;\r\n boundary="', boundary, b'"\r\n\r\n']
    for part in [content, *template.attachment_parts]:
        out += [b"--", boundary, b"\r\n", part, b"\r\n"]
    out += [b"--", boundary, b"--\r\n"]
    return b"".join(out)


def _content(template, bodies):
    """Return the text part, or the text and HTML parts as multipart/alternative, headers included."""
    if len(bodies) == 1:
        [(subtype, body)] = bodies
        return _part(subtype, body)

    boundary = template.boundary.encode("ascii")
    out = [b'Content-Type: multipart/alternative;\r\n boundary="', boundary, b'"\r\n\r\n']
    # The line break before a delimiter belongs to the delimiter (RFC 2046
    # section 5.1.1), so each body keeps its own final line break.
    for subtype, body in bodies:
        out += [b"--", boundary, b"\r\n", _part(subtype, body), b"\r\n"]
    out += [b"--", boundary, b"--\r\n"]
    return b"".join(out)


def _attachment_part(filename, content_type, content):
    """Return one attachment as MIME part bytes, base64 encoded by the email package."""
    maintype, _, subtype = content_type.partition("/")
    part = MIMEPart(policy=MESSAGE_POLICY)
    part.set_content(content, maintype=maintype, subtype=subtype, disposition="attachment", filename=filename)
    return part.as_bytes()


def _part(subtype, body):
    encoding, data = body
    return (
        b"Content-Type: text/" + subtype.encode("ascii") + b'; charset="utf-8"\r\n'
        b"Content-Transfer-Encoding: " + encoding + b"\r\n\r\n" + data
    )


def _body_bytes(content):
    """Return (transfer encoding, body with CRLF line ends): 7bit or 8bit, or quoted-printable for long lines."""
    lines = content.encode("utf-8").splitlines()
    if all(len(line) <= MAX_LINE_BYTES for line in lines):
        data = b"\r\n".join(lines) + b"\r\n"
        return (b"7bit" if data.isascii() else b"8bit"), data
    # b2a_qp keeps the text's line breaks and folds longer lines at 76
    # characters with soft breaks (RFC 2045 section 6.7).
    encoded = binascii.b2a_qp(b"\n".join(lines) + b"\n", istext=True)
    return b"quoted-printable", encoded.replace(b"\n", b"\r\n")


def _encode_header(value):
    """Return `value` as it may stand in a header: unchanged when ASCII, else RFC 2047 encoded words.

    The words are base64 UTF-8, each at most ENCODED_WORD_BYTES bytes of
    text and never splitting a character, one per folded line. Built by
    hand because email.header.Header took longer than the rest of `fill`.
    """
    if value.isascii():
        return value
    words = []
    chunk = bytearray()
    for character in value:
        data = character.encode("utf-8", "surrogatepass")
        if len(chunk) + len(data) > ENCODED_WORD_BYTES:
            words.append(_encoded_word(chunk))
            chunk = bytearray()
        chunk += data
    words.append(_encoded_word(chunk))
    return "\r\n ".join(words)


def _encoded_word(data):
    return f"=?utf-8?b?{base64.b64encode(bytes(data)).decode('ascii')}?="
