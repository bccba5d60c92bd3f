"""FTPZIP: archives in sendzip/ import recipients, create a message with images and send or save it; hostile ones change nothing."""

import io
import re
import stat
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from lxml import etree

from integrations import ftpzip, tasks
from integrations.ftpzip_package import SCHEMA_PATH
from integrations.models import ImportFile, SendZip
from lists.models import Account, Recipient
from sending.models import Message, Sending
from tests.integrations.conftest import upload, wait_for_file

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
MARKUP = '<html><body><h1>Offerte</h1><img src="images/logo.png"><a href="https://shop.example/">Shop</a></body></html>'
RECIPIENTS = "111|1\r\nanna@example.com|Anna\r\nbruno@example.com|Bruno\r\nnot-an-address|Nobody\r\n"


def settings_xml(mode="full", kind="massive", list_id=1, extra=""):
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Settings version="1"><Mode>{mode}</Mode><Type>{kind}</Type><ListId>{list_id}</ListId>'
        f"<Subject>Offerte di dicembre</Subject>{extra}</Settings>"
    )


def make_zip(members):
    """Return ZIP bytes holding `members`, a dict of name to str or bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content.encode("utf-8") if isinstance(content, str) else content)
    return buffer.getvalue()


def campaign_members(**changes):
    members = {
        "Settings.xml": settings_xml(),
        "Markup.htm": MARKUP,
        "images/logo.png": PNG,
        "Recipients.csv": RECIPIENTS,
    }
    members.update(changes)
    return {name: content for name, content in members.items() if content is not None}


@pytest.fixture
def home(demo, settings, tmp_path, sink):
    """The demo console's FTP home, with the SMTP sink running so that sendings stay on this test's port."""
    settings.FTP_ROOT = tmp_path / "ftp"
    settings.FTPZIP_IMAGE_ROOT = tmp_path / "images"
    (settings.FTP_ROOT / "1234" / "sendzip").mkdir(parents=True)
    return settings.FTP_ROOT / "1234"


def drop(home, data, name="campaign.zip"):
    """Put an archive into sendzip/ as a finished upload would, process it, and return the SendZip."""
    path = home / "sendzip" / name
    path.write_bytes(data)
    send_zip = ftpzip.receive_send_zip(Account.objects.get(console_id=1234), path)
    send_zip.refresh_from_db()
    return send_zip


def result_of(home, name="campaign.zip"):
    return etree.fromstring((home / "sendzip" / name.replace(".zip", ".result.xml")).read_bytes())


def assert_nothing_changed(home):
    assert Message.objects.count() == 0
    assert Sending.objects.count() == 0
    assert ImportFile.objects.count() == 0
    assert not Recipient.objects.filter(email__in=["anna@example.com", "bruno@example.com"]).exists()
    assert not (home / "sendzip" / "campaign.Recipients.csv").exists()


# --- Processing ----------------------------------------------------------------


def test_full_archive_imports_creates_and_sends(home, http):
    send_zip = drop(home, make_zip(campaign_members()))

    assert send_zip.status == SendZip.Status.DONE, send_zip.error
    assert set(Recipient.objects.filter(account__console_id=1234).values_list("email", flat=True)) >= {
        "anna@example.com",
        "bruno@example.com",
    }
    message = Message.objects.get()
    assert message.subject == "Offerte di dicembre"
    image_url = re.search(r'src="([^"]+logo\.png)"', message.html).group(1)
    assert image_url.endswith(f"/sim/media/ftpzip/{send_zip.pk}/images/logo.png")
    assert 'href="https://shop.example/"' in message.html
    sending = Sending.objects.get()
    assert sending.message == message
    assert sending.recipients.count() == 0
    image = http.get(urlsplit(image_url).path)
    assert image.status_code == 200
    assert image.content == PNG
    assert image.headers["Content-Type"] == "image/png"


def test_result_file_reports_import_and_sending(home):
    send_zip = drop(home, make_zip(campaign_members()))

    result = result_of(home)
    assert result.findtext("Status") == "done"
    assert result.findtext("MessageId") == str(send_zip.message_id)
    assert result.findtext("SendingId") == str(send_zip.sending_id)
    imported = result.find("Import")
    assert imported.get("created") == "2"
    assert imported.get("rejected") == "1"
    assert imported.get("report") == "campaign.Recipients.report.csv"
    assert [image.text for image in result.find("Images")] == ["images/logo.png"]
    assert (home / "sendzip" / "campaign.Recipients.report.csv").exists()
    assert not (home / "sendzip" / "campaign.zip").exists()
    assert len(list((home / "sendzip" / "done").glob("campaign.*.zip"))) == 1


def test_attachments_go_with_message(home):
    send_zip = drop(home, make_zip(campaign_members(**{"Attachments/terms.pdf": b"%PDF-1.4 terms"})))

    assert send_zip.status == SendZip.Status.DONE, send_zip.error
    attachment = Message.objects.get().attachments.get()
    assert attachment.filename == "terms.pdf"
    assert attachment.size == len(b"%PDF-1.4 terms")
    assert [name.text for name in result_of(home).find("Attachments")] == ["terms.pdf"]


def test_oversized_attachment_rejected_before_import(home, settings):
    settings.ATTACHMENT_MAX_BYTES = 4

    send_zip = drop(home, make_zip(campaign_members(**{"Attachments/terms.pdf": b"%PDF-1.4 terms"})))

    assert send_zip.status == SendZip.Status.REJECTED
    assert "ATTACHMENT_MAX_BYTES" in send_zip.error
    assert_nothing_changed(home)


def test_attachments_fill_slots_in_archive_order(home):
    files = {f"Attachments/{number}.txt": f"file {number}" for number in (1, 2, 3)}

    send_zip = drop(home, make_zip(campaign_members(**files)))

    assert send_zip.status == SendZip.Status.DONE, send_zip.error
    slots = Message.objects.get().attachments.values_list("slot", "filename")
    assert list(slots) == [(1, "1.txt"), (2, "2.txt"), (3, "3.txt")]


def test_six_attachments_rejected(home):
    files = {f"Attachments/{number}.txt": b"x" for number in range(6)}

    send_zip = drop(home, make_zip(campaign_members(**files)))

    assert send_zip.status == SendZip.Status.REJECTED
    assert "6 attachments; a message may have 5" in send_zip.error
    assert_nothing_changed(home)


def test_save_mode_creates_without_sending(home):
    send_zip = drop(home, make_zip(campaign_members(**{"Settings.xml": settings_xml(mode="save")})))

    assert send_zip.status == SendZip.Status.DONE, send_zip.error
    assert Message.objects.count() == 1
    assert Sending.objects.count() == 0
    assert Recipient.objects.filter(email="anna@example.com").exists()


def test_send_mode_skips_import(home):
    members = campaign_members(**{"Settings.xml": settings_xml(mode="send"), "Recipients.csv": None})

    send_zip = drop(home, make_zip(members))

    assert send_zip.status == SendZip.Status.DONE, send_zip.error
    assert ImportFile.objects.count() == 0
    assert Sending.objects.count() == 1


def test_transactional_sends_to_file_rows_only(home):
    members = campaign_members(**{"Settings.xml": settings_xml(kind="transactional")})

    send_zip = drop(home, make_zip(members))

    assert send_zip.status == SendZip.Status.DONE, send_zip.error
    targets = set(Sending.objects.get().recipients.values_list("email", flat=True))
    assert targets == {"anna@example.com", "bruno@example.com"}


def test_send_date_schedules_sending(home):
    extra = "<SendDate>2099-01-02T09:30:00+01:00</SendDate>"
    send_zip = drop(home, make_zip(campaign_members(**{"Settings.xml": settings_xml(extra=extra)})))

    sending = Sending.objects.get()
    assert sending.status == Sending.Status.SCHEDULED
    assert sending.scheduled_at.isoformat() == "2099-01-02T08:30:00+00:00"
    assert send_zip.status == SendZip.Status.DONE


@pytest.mark.parametrize("send_date", ["0001-01-01T00:00:00", "0001-01-01T00:00:00+14:00", "2000-01-01T00:00:00Z"])
def test_past_send_date_sends_at_once(home, send_date):
    extra = f"<SendDate>{send_date}</SendDate>"
    send_zip = drop(home, make_zip(campaign_members(**{"Settings.xml": settings_xml(extra=extra)})))

    assert send_zip.status == SendZip.Status.DONE, send_zip.error
    sending = Sending.objects.get()
    assert sending.scheduled_at is None
    assert sending.status != Sending.Status.SCHEDULED


def test_same_archive_twice_runs_once(home):
    data = make_zip(campaign_members())
    drop(home, data)

    second = drop(home, data, name="again.zip")

    assert second.status == SendZip.Status.DUPLICATE
    assert Message.objects.count() == 1
    assert "already processed" in result_of(home, "again.zip").findtext("Error")


def test_task_run_twice_processes_once(home):
    send_zip = drop(home, make_zip(campaign_members()))

    assert tasks.process_send_zip(send_zip.pk) is None

    assert Message.objects.count() == 1


def test_ftp_upload_processes_archive(ftp, ftp_server, settings, tmp_path, sink):
    settings.FTPZIP_IMAGE_ROOT = tmp_path / "images"

    upload(ftp, "/sendzip/campaign.zip", make_zip(campaign_members()))

    result = etree.fromstring(wait_for_file(ftp_server.home() / "sendzip" / "campaign.result.xml").encode("utf-8"))
    assert result.findtext("Status") == "done"
    assert Message.objects.count() == 1


# --- Invalid and hostile archives ----------------------------------------------------


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        ({"Settings.xml": settings_xml(mode="fast")}, "Element 'Mode'"),
        ({"Settings.xml": settings_xml().replace("<ListId>1</ListId>", "")}, "ListId"),
        ({"Settings.xml": settings_xml().replace('version="1"', 'version="2"')}, "version"),
        ({"Settings.xml": "<Settings"}, "not well-formed"),
        ({"Settings.xml": settings_xml(list_id=99)}, "List 99 not found"),
        ({"Settings.xml": settings_xml(extra="<Sender><Email>x@other.example</Email></Sender>")}, "differs"),
        ({"Settings.xml": None}, "no Settings.xml"),
        ({"Markup.htm": None}, "no Markup.htm"),
        ({"Markup.htm": "Caff\xe8".encode("latin-1")}, "not valid UTF-8"),
        ({"Recipients.csv": None}, "Mode full imports Recipients.csv"),
        ({"Settings.xml": settings_xml(mode="send", kind="transactional")}, "Type transactional needs Mode full"),
        ({"Recipients.csv": "nome|111\r\nAnna|anna@example.com\r\n"}, "Recipients.csv was not imported"),
        ({"Markup.htm": "<p>a\x00b</p>"}, "Markup.htm contains a NUL character"),
        ({"Settings.xml": settings_xml(extra="<SendDate>9999-12-31T23:59:59-14:00</SendDate>")}, "too late"),
        ({"Settings.xml": settings_xml(extra="<SendDate>9999-12-31T22:00:00Z</SendDate>")}, "too late"),
        ({"Settings.xml": settings_xml().replace("Offerte di dicembre", " \t ")}, "Subject of only spaces"),
    ],
)
def test_invalid_archive_rejected_with_report(home, members, expected):
    send_zip = drop(home, make_zip(campaign_members(**members)))

    assert send_zip.status == SendZip.Status.REJECTED
    assert expected in send_zip.error
    assert expected in result_of(home).findtext("Error")
    assert Message.objects.count() == 0
    assert Sending.objects.count() == 0


def test_comments_inside_settings_values(home):
    # Comments and processing instructions split an element's text in lxml.
    document = (
        settings_xml(mode="send", extra="<Sender><Email><!-- from -->newsletter@demo.example</Email></Sender>")
        .replace("<ListId>1</ListId>", "<ListId><!-- demo list -->1</ListId>")
        .replace("Offerte di dicembre", "Offerte <!-- note --><?editor x?>di dicembre")
    )
    send_zip = drop(home, make_zip(campaign_members(**{"Settings.xml": document, "Recipients.csv": None})))

    assert send_zip.status == SendZip.Status.DONE, send_zip.error
    message = Message.objects.get()
    assert message.subject == "Offerte di dicembre"
    assert message.list.list_id == 1
    assert Sending.objects.get().message == message


XML_BOMB = (
    '<?xml version="1.0"?>\n<!DOCTYPE Settings [\n <!ENTITY a "aaaaaaaaaa">\n'
    ' <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">\n <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">\n'
    ' <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">\n]>\n'
    '<Settings version="1"><Mode>full</Mode><Type>massive</Type><ListId>1</ListId><Subject>&d;</Subject></Settings>'
)
EXTERNAL_ENTITY = (
    '<?xml version="1.0"?>\n<!DOCTYPE Settings [<!ENTITY secret SYSTEM "file:///etc/passwd">]>\n'
    '<Settings version="1"><Mode>full</Mode><Type>massive</Type><ListId>1</ListId><Subject>&secret;</Subject></Settings>'
)


@pytest.mark.parametrize("document", [XML_BOMB, EXTERNAL_ENTITY], ids=["entity-expansion", "external-entity"])
def test_xml_entities_rejected(home, document):
    send_zip = drop(home, make_zip(campaign_members(**{"Settings.xml": document})))

    assert send_zip.status == SendZip.Status.REJECTED
    assert "DOCTYPE or ENTITY" in send_zip.error
    assert "root:" not in result_of(home).findtext("Error")
    assert_nothing_changed(home)


def zip_with_raw_names(members):
    """Return ZIP bytes whose entry names are written as given, including names zipfile would not produce."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            info = zipfile.ZipInfo(name)
            archive.writestr(info, content)
    return buffer.getvalue()


@pytest.mark.parametrize("evil_name", ["../evil.png", "images/../../evil.png", "/tmp/evil.png", "C:/evil.png", "a\\..\\evil.png"])
def test_climbing_names_rejected(home, evil_name):
    members = {name: content for name, content in campaign_members().items()}
    members[evil_name] = PNG

    send_zip = drop(home, zip_with_raw_names(members))

    assert send_zip.status == SendZip.Status.REJECTED
    assert repr(evil_name) in send_zip.error
    assert_nothing_changed(home)
    assert not (home / "evil.png").exists()
    assert not (home.parent / "evil.png").exists()


def test_symbolic_link_rejected(home):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in campaign_members().items():
            archive.writestr(name, content)
        link = zipfile.ZipInfo("images/passwd.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")

    send_zip = drop(home, buffer.getvalue())

    assert send_zip.status == SendZip.Status.REJECTED
    assert "symbolic link" in send_zip.error
    assert_nothing_changed(home)


def zip_bomb(size):
    """Return ZIP bytes with a valid campaign plus one member of `size` zero bytes, streamed while compressing."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in campaign_members().items():
            archive.writestr(name, content)
        with archive.open("images/bomb.png", "w") as member:
            chunk = b"\x00" * (1024 * 1024)
            for _ in range(size // len(chunk)):
                member.write(chunk)
    return buffer.getvalue()


def test_zip_bomb_rejected_by_ratio(home, settings):
    settings.FTPZIP_MAX_RATIO = 100

    send_zip = drop(home, zip_bomb(8 * 1024 * 1024))

    assert send_zip.status == SendZip.Status.REJECTED
    assert "ZIP bomb" in send_zip.error
    assert_nothing_changed(home)


def test_zip_bomb_rejected_by_total_size(home, settings):
    settings.FTPZIP_MAX_RATIO = 10_000
    settings.FTPZIP_MAX_UNCOMPRESSED_BYTES = 4 * 1024 * 1024

    send_zip = drop(home, zip_bomb(8 * 1024 * 1024))

    assert send_zip.status == SendZip.Status.REJECTED
    assert "FTPZIP_MAX_UNCOMPRESSED_BYTES" in send_zip.error
    assert_nothing_changed(home)


def test_not_a_zip_rejected(home):
    send_zip = drop(home, b"PK\x03\x04 not really a zip")

    assert send_zip.status == SendZip.Status.REJECTED
    assert send_zip.error == "The file is not a readable ZIP archive."
    assert_nothing_changed(home)


def test_image_view_rejects_climbing_name(home, http):
    send_zip = drop(home, make_zip(campaign_members()))

    assert http.get(f"/sim/media/ftpzip/{send_zip.pk}/../../etc/passwd").status_code == 404
    assert http.get(f"/sim/media/ftpzip/{send_zip.pk}/images/missing.png").status_code == 404
    assert http.get(f"/sim/media/ftpzip/{send_zip.pk}/images/logo%00.png").status_code == 404


# --- Schema documentation -------------------------------------------------------------


def test_docs_show_the_schema_in_use():
    docs = (Path(__file__).resolve().parents[2] / "docs" / "ftpzip.md").read_text(encoding="utf-8")
    block = re.search(r"```xml\n(<\?xml version=\"1.0\" encoding=\"UTF-8\"\?>\n<!-- Settings.xml.*?)```", docs, re.S)

    assert block is not None
    assert block.group(1) == SCHEMA_PATH.read_text(encoding="utf-8")
