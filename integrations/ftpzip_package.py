"""Reading an FTPZIP archive safely: member names, size and ratio limits, Settings.xml against its XSD.

Nothing here touches the database or the disk outside the archive: a
package is read and checked whole, in memory, before anything is changed,
so a hostile archive is rejected with nothing written.
"""

import stat
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.utils import timezone
from lxml import etree

from integrations.xmldoc import SAFE_PARSE_OPTIONS
from sending import services as sending_services

SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "ftpzip-settings.xsd"
SETTINGS_NAME = "settings.xml"
MARKUP_NAMES = ("markup.htm", "markup.html")
RECIPIENTS_NAME = "recipients.csv"
ATTACHMENTS_FOLDER = "attachments"
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
READ_CHUNK_BYTES = 64 * 1024
# NAME_MAX of Linux file systems, and a total that leaves room for the image folder within PATH_MAX.
MAX_NAME_PART_BYTES = 255
MAX_MEMBER_NAME_BYTES = 1024
# A member may expand to this many bytes before the ratio check applies, so
# small, highly compressible text such as HTML is never mistaken for a bomb.
RATIO_FREE_BYTES = 1024 * 1024

_schema = None


class PackageRejected(Exception):
    """An archive that is not processed; the message gives the reason and goes into the result file."""


@dataclass(frozen=True)
class SendSettings:
    mode: str
    type: str
    list_id: int
    subject: str
    sender_email: str = ""
    sender_name: str = ""
    send_date: datetime | None = None

    @property
    def imports(self):
        return self.mode in ("full", "save")

    @property
    def sends(self):
        return self.mode in ("full", "send")


@dataclass
class Package:
    """The checked content of an archive: settings, HTML, recipients file, images and attachments by name."""

    settings: SendSettings
    markup: str
    recipients_csv: bytes | None = None
    images: dict = field(default_factory=dict)
    attachments: dict = field(default_factory=dict)
    ignored: list = field(default_factory=list)


# --- Archive -----------------------------------------------------------------


def read_package(path):
    """Read and check an FTPZIP archive; return its Package or raise PackageRejected."""
    max_bytes = settings.FTPZIP_MAX_BYTES
    if path.stat().st_size > max_bytes:
        raise PackageRejected(f"The archive is larger than {max_bytes} bytes (FTPZIP_MAX_BYTES).")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise PackageRejected("The file is not a readable ZIP archive.") from None
    except UnicodeDecodeError:
        # zipfile decodes every entry name on opening, strictly when its UTF-8 flag is set.
        raise PackageRejected("An entry name is marked as UTF-8 but is not valid UTF-8.") from None

    with archive:
        members = _checked_members(archive)
        contents = _read_members(archive, members)
    return _build_package(contents)


def _checked_members(archive):
    """Return the archive's file members after checking every name, link flag and encryption bit."""
    infos = archive.infolist()
    if len(infos) > settings.FTPZIP_MAX_MEMBERS:
        raise PackageRejected(
            f"The archive has {len(infos)} entries; at most {settings.FTPZIP_MAX_MEMBERS} are accepted."
        )

    members = []
    seen = set()
    for info in infos:
        check_member_name(info.filename)
        if info.is_dir() or info.filename.startswith("__MACOSX/"):
            continue
        if stat.S_ISLNK(info.external_attr >> 16):
            raise PackageRejected(f"{info.filename} is a symbolic link; links are not accepted.")
        if info.flag_bits & 0x1:
            raise PackageRejected(f"{info.filename} is encrypted; encrypted archives are not accepted.")
        key = info.filename.lower()
        if key in seen:
            raise PackageRejected(f"{info.filename} appears twice in the archive.")
        seen.add(key)
        members.append(info)
    return members


def check_member_name(name):
    """Raise PackageRejected for a member name that is absolute or climbs out of the archive's folder."""
    windows_drive = len(name) >= 2 and name[1] == ":"
    if "\\" in name or "\x00" in name or name.startswith("/") or windows_drive:
        raise PackageRejected(f"The entry name {name!r} is not a relative path with / separators.")
    parts = PurePosixPath(name).parts
    if any(part in ("..", ".") for part in parts) or "//" in name:
        raise PackageRejected(f"The entry name {name!r} climbs out of the archive's folder.")
    # Images are stored under their entry names, and the disk allows no longer ones.
    if len(name.encode("utf-8")) > MAX_MEMBER_NAME_BYTES or any(
        len(part.encode("utf-8")) > MAX_NAME_PART_BYTES for part in parts
    ):
        raise PackageRejected(
            f"The entry name {name[:40]!r}... is longer than {MAX_MEMBER_NAME_BYTES} bytes, "
            f"or has a folder or file name longer than {MAX_NAME_PART_BYTES} bytes."
        )


def _read_members(archive, members):
    """Decompress every member within the size budget and the ratio limit; return {name: bytes}."""
    budget = settings.FTPZIP_MAX_UNCOMPRESSED_BYTES
    contents = {}
    for info in members:
        if info.file_size > budget:
            raise PackageRejected(
                f"{info.filename} declares {info.file_size} bytes, more than the archive's remaining limit "
                f"of {budget} bytes (FTPZIP_MAX_UNCOMPRESSED_BYTES)."
            )
        data = _read_member(archive, info, budget)
        budget -= len(data)
        contents[info.filename] = data
    return contents


def _read_member(archive, info, budget):
    """Decompress one member in chunks, because its declared size may lie; stop at the first limit crossed."""
    max_ratio = settings.FTPZIP_MAX_RATIO
    chunks = []
    total = 0
    try:
        with archive.open(info) as stream:
            for chunk in iter(lambda: stream.read(READ_CHUNK_BYTES), b""):
                total += len(chunk)
                if total > budget:
                    raise PackageRejected(
                        f"{info.filename} expands beyond the archive's limit of "
                        f"{settings.FTPZIP_MAX_UNCOMPRESSED_BYTES} bytes (FTPZIP_MAX_UNCOMPRESSED_BYTES)."
                    )
                if total > RATIO_FREE_BYTES and total > max(info.compress_size, 1) * max_ratio:
                    raise PackageRejected(
                        f"{info.filename} expands more than {max_ratio} times its compressed size "
                        "(FTPZIP_MAX_RATIO); the archive looks like a ZIP bomb."
                    )
                chunks.append(chunk)
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError, OSError) as error:
        raise PackageRejected(f"{info.filename} cannot be read from the archive: {error}") from None
    return b"".join(chunks)


# --- Content -----------------------------------------------------------------


def _build_package(contents):
    by_name = {name.lower(): name for name in contents}
    if SETTINGS_NAME not in by_name:
        raise PackageRejected("The archive has no Settings.xml at its top level.")
    markup_name = next((by_name[name] for name in MARKUP_NAMES if name in by_name), None)
    if markup_name is None:
        raise PackageRejected("The archive has no Markup.htm at its top level.")

    package = Package(
        settings=parse_settings(contents[by_name[SETTINGS_NAME]]),
        markup=_decode_markup(contents[markup_name]),
        recipients_csv=contents.get(by_name.get(RECIPIENTS_NAME, "")),
    )
    special = {by_name[SETTINGS_NAME], markup_name, by_name.get(RECIPIENTS_NAME)}
    for name, data in contents.items():
        if name not in special:
            _sort_member(package, name, data)
    _check_required_files(package)
    return package


def _sort_member(package, name, data):
    parts = PurePosixPath(name).parts
    if parts[0].lower() == ATTACHMENTS_FOLDER and len(parts) > 1:
        filename = parts[-1]
        if filename in package.attachments:
            raise PackageRejected(f"Two attachments are named {filename}.")
        package.attachments[filename] = data
    elif PurePosixPath(name).suffix.lower() in IMAGE_TYPES:
        package.images[name] = data
    else:
        package.ignored.append(name)


def _decode_markup(data):
    try:
        markup = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise PackageRejected(f"Markup.htm is not valid UTF-8 (byte {error.start}).") from None
    # PostgreSQL text columns cannot store NUL.
    if "\x00" in markup:
        raise PackageRejected(f"Markup.htm contains a NUL character (character {markup.index(chr(0))}).")
    return markup


def _check_required_files(package):
    send_settings = package.settings
    if send_settings.mode == "full" and package.recipients_csv is None:
        raise PackageRejected("Mode full imports Recipients.csv, and the archive has none.")
    if send_settings.type == "transactional":
        if send_settings.mode == "send":
            raise PackageRejected(
                "Type transactional needs Mode full or save, because its recipients come from Recipients.csv."
            )
        if package.recipients_csv is None:
            raise PackageRejected("Type transactional sends to the rows of Recipients.csv, and the archive has none.")


# --- Settings.xml ------------------------------------------------------------


def settings_schema():
    global _schema
    if _schema is None:
        _schema = etree.XMLSchema(etree.parse(str(SCHEMA_PATH)))
    return _schema


def parse_settings(data):
    """Parse Settings.xml without DTDs, entities or network access, validate it against the XSD, and read it."""
    # A DOCTYPE is the carrier of entity expansion (billion laughs) and of
    # external entities, and Settings.xml has no use for one.
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        raise PackageRejected("Settings.xml contains a DOCTYPE or ENTITY declaration; they are not accepted.")
    # Comments and processing instructions are dropped while parsing, because
    # one inside an element splits its text: `<ListId><!-- x -->5</ListId>`
    # is valid against the XSD, yet its element's .text would be empty.
    parser = etree.XMLParser(**SAFE_PARSE_OPTIONS)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as error:
        raise PackageRejected(f"Settings.xml is not well-formed XML: {error}") from None

    schema = settings_schema()
    if not schema.validate(root):
        problems = "; ".join(f"line {entry.line}: {entry.message}" for entry in schema.error_log)
        raise PackageRejected(f"Settings.xml does not match the FTPZIP schema: {problems}")
    return _read_settings(root)


def _read_settings(root):
    def text(path):
        found = root.find(path)
        return found.text.strip() if found is not None and found.text else ""

    subject = text("Subject")
    if not subject:
        raise PackageRejected("Settings.xml has a Subject of only spaces; the message needs a subject.")

    send_date = None
    if text("SendDate"):
        send_date = _parse_send_date(text("SendDate"))
    return SendSettings(
        mode=text("Mode"),
        type=text("Type"),
        list_id=int(text("ListId")),
        subject=subject,
        sender_email=text("Sender/Email").lower(),
        sender_name=text("Sender/Name"),
        send_date=send_date,
    )


def _parse_send_date(raw):
    """Parse an xs:dateTime; one without an offset is in the server's time zone."""
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise PackageRejected(f"SendDate {raw!r} is not a date and time such as 2026-12-05T10:00:00+01:00.") from None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    try:
        return sending_services.check_schedule(moment)
    except ValueError as error:
        raise PackageRejected(f"SendDate {raw!r}: {error}") from None
