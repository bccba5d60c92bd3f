"""MailupSend's SendMessageNL over SOAP with zeep: a CSV in the FTP home becomes an "Automatic NN" group and a scheduled sending."""

import threading
import uuid
from datetime import datetime, timedelta

import pytest
from django.db import connections
from django.utils import timezone

from integrations import file_sending
from integrations.models import Import
from lists.models import Group, GroupMembership, Recipient, Subscription
from sending import services
from sending.models import Message, Sending
from tests.personas import demo_list
from tests.sending.soap_clients import client, login, parse

# .NET's DateTime.MinValue, which clients send when they set no date.
NO_DATE = datetime(1, 1, 1)
GOOD_CSV = "111;1\nanna.nl@example.com;Anna\nbruno.nl@example.com;Bruno\n"


@pytest.fixture
def home(demo, settings, tmp_path):
    """The demo console's FTP home, under a private FTP_ROOT."""
    settings.FTP_ROOT = tmp_path / "ftp"
    path = settings.FTP_ROOT / "1234"
    path.mkdir(parents=True)
    return path


@pytest.fixture
def send(demo, server_url):
    return client(server_url, "MailupSend")


@pytest.fixture
def key(send):
    return login(send)


@pytest.fixture
def message(demo):
    return services.create_message(demo_list(), "Offerta di dicembre", html="<p>Offerta</p>")


def send_nl(send, key, message, file_name="nl.csv", **overrides):
    arguments = {
        "accessKey": key,
        "fileName": file_name,
        "separator": ";",
        "listId": "1",
        "listGuid": str(demo_list().guid),
        "messageId": str(message.pk),
        "senderName": "",
        "sender": "",
        "subject": "",
        "timeDateSending": NO_DATE,
        "sendDelayTest": 0,
    }
    arguments.update(overrides)
    return send.SendMessageNL(**arguments)


def snapshot():
    """Count the rows that SendMessageNL may write, to show that a failed call wrote none."""
    models = (Group, GroupMembership, Recipient, Subscription, Sending, Import, Message)
    return {model.__name__: model.objects.count() for model in models}


# --- Success -----------------------------------------------------------------------


def test_send_nl_schedules_group_sending(send, key, home, message):
    (home / "nl.csv").write_text(GOOD_CSV)
    before = timezone.now()

    delivery_id = send_nl(send, key, message)

    assert isinstance(delivery_id, int)
    assert delivery_id > 0
    sending = Sending.objects.get(pk=delivery_id)
    assert sending.message_id == message.pk
    assert sending.status == Sending.Status.SCHEDULED
    assert before + timedelta(minutes=19) < sending.scheduled_at < timezone.now() + timedelta(minutes=21)
    group = sending.groups.get()
    assert group.name == "Automatic 01"
    assert group.list_id == demo_list().pk
    members = set(group.memberships.values_list("recipient__email", flat=True))
    assert members == {"anna.nl@example.com", "bruno.nl@example.com"}
    subscribed = Subscription.objects.filter(list=demo_list(), recipient__email__in=members, status="subscribed")
    assert subscribed.count() == 2
    assert Recipient.objects.get(email="anna.nl@example.com").fields.get("1") == "Anna"


def test_send_nl_delivery_visible_over_soap(send, key, home, message):
    (home / "nl.csv").write_text(GOOD_CSV)

    delivery_id = send_nl(send, key, message)

    status = parse(send.GetNewsletterDeliveryStatus(key, delivery_id))
    assert status.findtext("errorCode") == "0"
    assert status.findtext("deliveryID") == str(delivery_id)
    assert status.findtext("newsletterID") == str(message.pk)
    assert status.findtext("status") == "scheduled"
    schedule = parse(send.GetNewsletterScheduleStatus(key, message.pk))
    assert schedule.findtext("scheduleID") == str(delivery_id)
    groups = parse(send.GetGroups(key, 1))
    assert "Automatic 01" in [item.findtext("groupName") for item in groups.findall("list/groups/group")]


def test_send_nl_numbers_groups_per_list(send, key, home, message):
    (home / "nl.csv").write_text(GOOD_CSV)
    demo_list().groups.create(name="Automatic 07")
    demo_list(2).groups.create(name="Automatic 30")

    first = send_nl(send, key, message)
    second = send_nl(send, key, message)

    assert Sending.objects.get(pk=first).groups.get().name == "Automatic 08"
    assert Sending.objects.get(pk=second).groups.get().name == "Automatic 09"


def test_send_nl_by_guid_alone(send, key, home, message):
    (home / "nl.csv").write_text(GOOD_CSV)

    delivery_id = send_nl(send, key, message, listId="")

    assert Sending.objects.get(pk=delivery_id).list_id == demo_list().pk


def test_send_nl_sender_and_subject(send, key, home, message):
    (home / "nl.csv").write_text(GOOD_CSV)

    delivery_id = send_nl(send, key, message, sender="Offerte@Example.com", senderName="Ufficio offerte", subject="Solo per te")

    sending = Sending.objects.get(pk=delivery_id)
    assert sending.from_email == "offerte@example.com"
    assert sending.from_name == "Ufficio offerte"
    assert sending.message_id != message.pk
    assert sending.message.subject == "Solo per te"
    assert sending.message.html == message.html
    assert Message.objects.get(pk=message.pk).subject == "Offerta di dicembre"


def test_send_nl_same_subject_keeps_message(send, key, home, message):
    (home / "nl.csv").write_text(GOOD_CSV)

    delivery_id = send_nl(send, key, message, subject="Offerta di dicembre")

    assert Sending.objects.get(pk=delivery_id).message_id == message.pk


def test_send_nl_later_time_wins(send, key, home, message):
    (home / "nl.csv").write_text(GOOD_CSV)
    later = (timezone.now() + timedelta(days=2)).replace(microsecond=0)

    delivery_id = send_nl(send, key, message, timeDateSending=later)

    assert Sending.objects.get(pk=delivery_id).scheduled_at == later


def test_send_nl_earlier_time_keeps_delay(send, key, home, message):
    (home / "nl.csv").write_text(GOOD_CSV)
    soon = timezone.now() + timedelta(minutes=5)

    delivery_id = send_nl(send, key, message, timeDateSending=soon)

    assert Sending.objects.get(pk=delivery_id).scheduled_at > timezone.now() + timedelta(minutes=19)


@pytest.mark.parametrize("separator, content", [("", GOOD_CSV), (",", GOOD_CSV.replace(";", ",")), ("\t", GOOD_CSV.replace(";", "\t"))])
def test_send_nl_separators(send, key, home, message, separator, content):
    (home / "nl.csv").write_text(content)

    delivery_id = send_nl(send, key, message, separator=separator)

    assert Sending.objects.get(pk=delivery_id).groups.get().memberships.count() == 2


def test_send_nl_file_in_subfolder(send, key, home, message):
    (home / "export").mkdir()
    (home / "export" / "nl.csv").write_text(GOOD_CSV)

    assert send_nl(send, key, message, file_name="export/nl.csv") > 0
    assert send_nl(send, key, message, file_name="export\\nl.csv") > 0


def test_send_nl_skips_bounced_recipient(send, key, home, message):
    """A row the import rules reject (a bounced address) is left out of the group; the others still get the message."""
    bounced = Recipient.objects.create(account=demo_list().account, email="bruno.nl@example.com")
    Subscription.objects.create(
        recipient=bounced, list=demo_list(), status="unsubscribed", source="Bounce", optout_reason="80"
    )
    (home / "nl.csv").write_text("111;status\nanna.nl@example.com;subscribed\nbruno.nl@example.com;subscribed\n")

    delivery_id = send_nl(send, key, message)

    group = Sending.objects.get(pk=delivery_id).groups.get()
    assert list(group.memberships.values_list("recipient__email", flat=True)) == ["anna.nl@example.com"]
    job = Import.objects.get(list=demo_list(), kind=Import.Kind.SOAP)
    assert job.status == Import.Status.COMPLETED
    assert job.count("created") == 1
    assert job.count("rejected") == 1


# --- Failures: -1 and nothing written ------------------------------------------------


def assert_rejected(result, before):
    assert result == -1
    assert snapshot() == before


def test_send_nl_missing_file(send, key, home, message):
    before = snapshot()

    assert_rejected(send_nl(send, key, message, file_name="assente.csv"), before)
    assert_rejected(send_nl(send, key, message, file_name=""), before)


def test_send_nl_folder_is_no_file(send, key, home, message):
    (home / "export").mkdir()
    before = snapshot()

    assert_rejected(send_nl(send, key, message, file_name="export"), before)


@pytest.mark.parametrize("name", ["../outside.csv", "..\\outside.csv", "export/../../outside.csv", "./../outside.csv"])
def test_send_nl_rejects_parent_paths(send, key, home, message, name):
    (home / "export").mkdir()
    (home.parent / "outside.csv").write_text(GOOD_CSV)
    before = snapshot()

    assert_rejected(send_nl(send, key, message, file_name=name), before)


def test_send_nl_rejects_absolute_path(send, key, home, message):
    (home / "nl.csv").write_text(GOOD_CSV)
    before = snapshot()

    assert_rejected(send_nl(send, key, message, file_name=str(home / "nl.csv")), before)
    assert_rejected(send_nl(send, key, message, file_name="/etc/passwd"), before)


def test_send_nl_rejects_symlink_out_of_home(send, key, home, message):
    outside = home.parent / "outside.csv"
    outside.write_text(GOOD_CSV)
    (home / "link.csv").symlink_to(outside)
    (home / "folder").symlink_to(home.parent)
    before = snapshot()

    assert_rejected(send_nl(send, key, message, file_name="link.csv"), before)
    assert_rejected(send_nl(send, key, message, file_name="folder/outside.csv"), before)


def test_send_nl_rejects_symlink_loop(send, key, home, message):
    (home / "loop.csv").symlink_to(home / "loop.csv")
    before = snapshot()

    assert_rejected(send_nl(send, key, message, file_name="loop.csv"), before)


def test_send_nl_follows_symlink_inside_home(send, key, home, message):
    (home / "nl.csv").write_text(GOOD_CSV)
    (home / "alias.csv").symlink_to(home / "nl.csv")

    assert send_nl(send, key, message, file_name="alias.csv") > 0


def test_resolve_home_file_rejects_nul(home):
    """XML 1.0 cannot carry NUL, so a SOAP call never holds one; the check guards other callers."""
    (home / "nl.csv").write_text(GOOD_CSV)
    account = demo_list().account

    with pytest.raises(file_sending.FileSendingRejected, match="NUL"):
        file_sending.resolve_home_file(account, "nl.csv\x00.txt")


def test_send_nl_nul_reference_is_fault(http, home, message):
    (home / "nl.csv").write_text(GOOD_CSV)
    before = snapshot()
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        '<SendMessageNL xmlns="http://services.mailupnet.it/WS"><accessKey>x</accessKey>'
        f"<fileName>nl.csv&#0;</fileName><listId>1</listId><messageId>{message.pk}</messageId>"
        "<timeDateSending>0001-01-01T00:00:00</timeDateSending><sendDelayTest>0</sendDelayTest>"
        "</SendMessageNL></soap:Body></soap:Envelope>"
    )

    response = http.post("/MailupSend.asmx", data=body.encode(), headers={"Content-Type": "text/xml; charset=utf-8"})

    assert response.status_code == 500
    assert "Fault" in response.text
    assert snapshot() == before


@pytest.mark.parametrize("guid", [str(uuid.uuid4()), "non-una-guid", "list-2"])
def test_send_nl_wrong_list_guid(send, key, home, message, guid):
    (home / "nl.csv").write_text(GOOD_CSV)
    if guid == "list-2":
        guid = str(demo_list(2).guid)
    before = snapshot()

    assert_rejected(send_nl(send, key, message, listGuid=guid), before)


@pytest.mark.parametrize("list_id", ["99", "uno", ""])
def test_send_nl_unknown_list(send, key, home, message, list_id):
    (home / "nl.csv").write_text(GOOD_CSV)
    before = snapshot()

    assert_rejected(send_nl(send, key, message, listId=list_id, listGuid=""), before)


def test_send_nl_unknown_message(send, key, home, message):
    (home / "nl.csv").write_text(GOOD_CSV)
    other_list = services.create_message(demo_list(2), "Altra lista", html="<p>x</p>")
    before = snapshot()

    for message_id in ("999999", str(other_list.pk), "abc", "", "-3"):
        assert_rejected(send_nl(send, key, message, messageId=message_id), before)


@pytest.mark.parametrize("separator", ["x", ";;", ".", "@", " "])
def test_send_nl_bad_separator(send, key, home, message, separator):
    (home / "nl.csv").write_text(GOOD_CSV)
    before = snapshot()

    assert_rejected(send_nl(send, key, message, separator=separator), before)


def test_send_nl_separator_not_in_file(send, key, home, message):
    (home / "nl.csv").write_text(GOOD_CSV)
    before = snapshot()

    assert_rejected(send_nl(send, key, message, separator=","), before)


def test_send_nl_megabyte_cell(send, key, home, message):
    (home / "nl.csv").write_text(GOOD_CSV + "carla.nl@example.com;" + "x" * 1024 * 1024 + "\n")
    before = snapshot()

    assert_rejected(send_nl(send, key, message), before)
    assert not Recipient.objects.filter(email="anna.nl@example.com").exists()


def test_send_nl_bad_row_after_committed_batches(send, key, home, message, settings):
    """With one row per batch, the rows before a bad line were written as savepoints, and they are undone too."""
    settings.IMPORT_BATCH_SIZE = 1
    (home / "nl.csv").write_text(GOOD_CSV + "non-un-indirizzo;Dario\n")
    before = snapshot()

    assert_rejected(send_nl(send, key, message), before)


@pytest.mark.parametrize(
    "content",
    ["", "111;1\n", "nome;cognome\nanna@example.com;Anna\n", b"111;1\n\xff\xfe@example.com;x\n", "\x00\x00\x00"],
)
def test_send_nl_unusable_file(send, key, home, message, content):
    target = home / "nl.csv"
    target.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = snapshot()

    assert_rejected(send_nl(send, key, message), before)


def test_send_nl_bad_sender(send, key, home, message):
    (home / "nl.csv").write_text(GOOD_CSV)
    before = snapshot()

    assert_rejected(send_nl(send, key, message, sender="non un indirizzo"), before)
    assert_rejected(send_nl(send, key, message, senderName="riga\nspezzata"), before)
    assert_rejected(send_nl(send, key, message, subject="riga\nspezzata"), before)


def test_send_nl_too_late_time(send, key, home, message):
    (home / "nl.csv").write_text(GOOD_CSV)
    before = snapshot()

    assert_rejected(send_nl(send, key, message, timeDateSending=datetime(9999, 12, 31, 12, 0)), before)


def test_send_nl_bad_access_key(send, home, message):
    (home / "nl.csv").write_text(GOOD_CSV)
    before = snapshot()

    assert_rejected(send_nl(send, "scaduta", message), before)


def test_send_nl_other_console_home(send, key, home, message):
    """A file in another console's home is out of reach: the path would need '..'."""
    other_home = home.parent / "5678"
    other_home.mkdir()
    (other_home / "nl.csv").write_text(GOOD_CSV)
    before = snapshot()

    assert_rejected(send_nl(send, key, message, file_name="../5678/nl.csv"), before)


def test_send_nl_wsdl_shape(http, demo):
    """The WSDL declares MailUp's parameters in MailUp's order, and a bare int result."""
    root = parse(http.get("/MailupSend.asmx?WSDL").text)
    ns = {"s": "http://www.w3.org/2001/XMLSchema"}

    request = root.xpath("//s:element[@name='SendMessageNL']//s:element", namespaces=ns)
    result = root.xpath("//s:element[@name='SendMessageNLResponse']//s:element", namespaces=ns)

    assert [element.get("name") for element in request] == [
        "accessKey", "fileName", "separator", "listId", "listGuid", "messageId",
        "senderName", "sender", "subject", "timeDateSending", "sendDelayTest",
    ]
    assert request[9].get("type") == "s:dateTime"
    assert request[10].get("type") == "s:int"
    assert [(element.get("name"), element.get("type")) for element in result] == [("SendMessageNLResult", "s:int")]


@pytest.mark.parametrize("name", ["a" * 5000 + ".csv", "x/" * 3000 + "nl.csv", "~/nl.csv", "C:\\nl.csv"])
def test_send_nl_odd_file_names(send, key, home, message, name):
    (home / "nl.csv").write_text(GOOD_CSV)
    before = snapshot()

    assert_rejected(send_nl(send, key, message, file_name=name), before)


def test_concurrent_calls_number_groups_apart(home, message):
    """Two calls on one list at the same time take different group numbers, because each locks the list first."""
    (home / "nl.csv").write_text(GOOD_CSV)
    path = file_sending.resolve_home_file(demo_list().account, "nl.csv")
    start = file_sending.sending_start()
    barrier = threading.Barrier(2)
    errors = []

    def call():
        try:
            barrier.wait(timeout=10)
            file_sending.send_to_file_recipients(Message.objects.get(pk=message.pk), path, ";", start)
        except Exception as error:  # noqa: BLE001 - reported by the assert below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    names = sorted(demo_list().groups.filter(name__startswith="Automatic").values_list("name", flat=True))
    assert names == ["Automatic 01", "Automatic 02"]
