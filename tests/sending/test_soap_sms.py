"""MailupSend's SMS operations over SOAP with zeep, from the WSDL the live server returns."""

import pytest
from lxml import etree

from lists.models import Account, Group, GroupMembership, List, Recipient, Subscription
from sending.models import SinkSms, SmsMessage, SmsSending
from tests.personas import demo_list
from tests.sending.soap_clients import client, error_code, login, options, parse

SMS_OPERATIONS = (
    "GetSMS",
    "CreateSMS",
    "SendSMS",
    "SendSMSFast",
    "SendSingleSMS",
    "SendDirectSMS",
    "GetSMSDeliveryStatus",
    "StartDeliverySMS",
    "StopDeliverySMS",
    "GetSMSQueues",
    "RemoveSMSQueue",
    "ScheduleSMSQueue",
)


@pytest.fixture
def send(demo, server_url):
    return client(server_url, "MailupSend")


@pytest.fixture
def key(send):
    return login(send)


def subscribe_sms(number, list_id=1, status="subscribed", group=None):
    mailing_list = demo_list(list_id)
    recipient, _ = Recipient.objects.get_or_create(account=mailing_list.account, mobile_prefix="0039", mobile_number=number)
    Subscription.objects.create(recipient=recipient, list=mailing_list, channel="sms", status=status, source="API")
    if group is not None:
        GroupMembership.objects.create(group=group, recipient=recipient)
    return recipient


@pytest.fixture
def other_console(demo):
    """Console 5678 with list 9, one SMS message and one SMS sending."""
    account = Account.objects.create(console_id=5678, name="Other S.r.l.")
    mailing_list = List.objects.create(account=account, list_id=9, name="Other", sender_name="Other", sender_email="n@other.example")
    message = SmsMessage.objects.create(list=mailing_list, text="Other SMS")
    sending = SmsSending.objects.create(message=message, list=mailing_list)
    return {"list": mailing_list, "message": message, "sending": sending}


def create_sms(send, key, text="Saldi da oggi", subject="Saldi", **values):
    result = parse(send.CreateSMS(key, 1, subject, text, options(**values) if values else None))
    assert result.findtext("errorCode") == "0", result.findtext("errorDescription")
    return int(result.findtext("smsID"))


def sink_numbers(sending_id):
    return sorted(SinkSms.objects.filter(sending_id=sending_id).values_list("number", flat=True))


def test_wsdl_lists_sms_operations(demo, http):
    wsdl = etree.fromstring(http.get("/MailupSend.asmx?WSDL").content)
    port_type = wsdl.find("{http://schemas.xmlsoap.org/wsdl/}portType")

    names = {item.get("name") for item in port_type.iter("{http://schemas.xmlsoap.org/wsdl/}operation")}
    assert set(SMS_OPERATIONS) <= names


# --- GetSMS, CreateSMS ----------------------------------------------------------------


def test_create_sms_and_list_it(send, key):
    sms_id = create_sms(send, key, note="dicembre")

    result = parse(send.GetSMS(key, 1))

    assert result.tag == "GetSMSResult"
    assert [child.tag for child in result] == ["errorCode", "errorDescription", "list"]
    item = result.find("list/smsMessages/sms")
    assert [child.tag for child in item] == ["smsID", "subject", "note", "creationdate"]
    assert item.findtext("smsID") == str(sms_id)
    assert item.findtext("subject") == "Saldi"
    assert item.findtext("note") == "dicembre"
    assert len(item.findtext("creationdate")) == len("16/09/2016 15:57:35")
    assert SmsMessage.objects.get(pk=sms_id).text == "Saldi da oggi"


def test_get_sms_of_empty_list(send, key):
    result = parse(send.GetSMS(key, 2))

    assert result.findtext("errorCode") == "0"
    assert len(result.find("list/smsMessages")) == 0


@pytest.mark.parametrize("subject, text", [("Saldi", " "), ("Riga\nspezzata", "Testo")])
def test_create_sms_rejects_bad_input(send, key, subject, text):
    result = parse(send.CreateSMS(key, 1, subject, text, None))

    assert result.findtext("errorCode") == "-2"
    assert result.findtext("errorDescription")
    assert not SmsMessage.objects.exists()


# --- SendSMS, SendSMSFast --------------------------------------------------------------


def test_send_sms_to_list(send, key):
    subscribe_sms("3350000001")
    subscribe_sms("3350000002")
    subscribe_sms("3350000003", status="unsubscribed")
    sms_id = create_sms(send, key)

    result = parse(send.SendSMS(key, 1, sms_id, None))

    assert [child.tag for child in result] == ["errorCode", "errorDescription", "deliveryID"]
    sending_id = int(result.findtext("deliveryID"))
    assert sink_numbers(sending_id) == ["00393350000001", "00393350000002"]
    assert set(SinkSms.objects.values_list("text", flat=True)) == {"Saldi da oggi"}


def test_send_sms_to_group(send, key):
    group = Group.objects.filter(list=demo_list(1)).first()
    subscribe_sms("3350000001", group=group)
    subscribe_sms("3350000002")
    sms_id = create_sms(send, key)

    result = parse(send.SendSMS(key, 1, sms_id, options(send_to="GROUPS", recipients=str(group.pk))))

    assert sink_numbers(int(result.findtext("deliveryID"))) == ["00393350000001"]


@pytest.mark.parametrize(
    "chosen, code",
    [
        (options(send_to="RECIPIENTS", recipients="3350000001"), -2),
        (options(send_to="GROUPS"), -2),
        (options(send_to="GROUPS", recipients="987654"), -31),
        (options(deliverydt="99991231235959"), -2),
        (options(deliverydt="domani"), -2),
        (options(filters="1"), -2),
    ],
)
def test_send_sms_bad_options_send_nothing(send, key, chosen, code):
    subscribe_sms("3350000001")
    sms_id = create_sms(send, key)

    assert error_code(send.SendSMS(key, 1, sms_id, chosen)) == code
    assert not SmsSending.objects.exists()
    assert not SinkSms.objects.exists()


def test_send_sms_with_past_deliverydt_sends_at_once(send, key):
    subscribe_sms("3350000001")
    sms_id = create_sms(send, key)

    result = parse(send.SendSMS(key, 1, sms_id, options(deliverydt="20200101120000")))

    assert sink_numbers(int(result.findtext("deliveryID"))) == ["00393350000001"]


def test_send_sms_unknown_message(send, key):
    assert error_code(send.SendSMS(key, 1, 987654, None)) == -32
    assert error_code(send.SendSMS(key, 777, 1, None)) == -30


def test_send_sms_fast(send, key):
    subscribe_sms("3350000001")

    result = parse(send.SendSMSFast(key, 1, "Flash", "Solo oggi", options(note="flash")))

    assert [child.tag for child in result] == ["errorCode", "errorDescription", "smsID", "deliveryID"]
    message = SmsMessage.objects.get(pk=int(result.findtext("smsID")))
    assert (message.subject, message.text, message.notes) == ("Flash", "Solo oggi", "flash")
    assert sink_numbers(int(result.findtext("deliveryID"))) == ["00393350000001"]


def test_send_sms_fast_bad_option_leaves_nothing(send, key):
    assert error_code(send.SendSMSFast(key, 1, "Flash", "Solo oggi", options(send_to="NOBODY"))) == -2
    assert not SmsMessage.objects.exists()


# --- SendSingleSMS, SendDirectSMS --------------------------------------------------------


@pytest.mark.parametrize("numero", ["+393350000001", "00393350000001", "3350000001", " +393350000001 "])
def test_send_single_sms_number_spellings(send, key, numero):
    recipient = subscribe_sms("3350000001")

    result = parse(send.SendSingleSMS(key, 1, "Codice", "TEXT", "Il tuo codice: 1234", numero, None))

    assert result.findtext("errorCode") == "0", result.findtext("errorDescription")
    sms = SinkSms.objects.get(sending_id=int(result.findtext("deliveryID")))
    assert (sms.number, sms.text, sms.recipient_id) == ("00393350000001", "Il tuo codice: 1234", recipient.pk)
    assert SmsMessage.objects.get(pk=int(result.findtext("smsID"))).subject == "Codice"


def test_send_single_sms_adds_number(send, key):
    result = parse(send.SendSingleSMS(key, 1, "Benvenuto", "HTML", "Ciao", "+393351112222", None))

    assert result.findtext("errorCode") == "0", result.findtext("errorDescription")
    assert sink_numbers(int(result.findtext("deliveryID"))) == ["00393351112222"]
    subscription = Subscription.objects.get(recipient__mobile_number="3351112222", channel="sms")
    assert (subscription.list_id, subscription.status) == (demo_list(1).pk, Subscription.Status.SUBSCRIBED)


def test_send_single_sms_blocked_number(send, key):
    subscribe_sms("3350000001", status="unsubscribed")
    Subscription.objects.filter(recipient__mobile_number="3350000001").update(optout_reason="8")

    assert error_code(send.SendSingleSMS(key, 1, "S", "TEXT", "Ciao", "3350000001", None)) == -35
    assert error_code(send.SendDirectSMS(key, 1, "Ciao", "3350000001", None)) == -35
    assert not SmsMessage.objects.exists()
    assert not SinkSms.objects.exists()


def test_send_single_sms_resubscribes_unsubscribed_number(send, key):
    subscribe_sms("3350000001", status="unsubscribed")

    result = parse(send.SendSingleSMS(key, 1, "S", "TEXT", "Ciao", "3350000001", None))

    assert sink_numbers(int(result.findtext("deliveryID"))) == ["00393350000001"]
    assert Subscription.objects.get(recipient__mobile_number="3350000001").status == Subscription.Status.SUBSCRIBED


@pytest.mark.parametrize(
    "content_type, content, numero",
    [("URL", "http://127.0.0.1/", "3350000001"), ("HTML", " ", "3350000001"), ("TEXT", "Ciao", "33-50"), ("TEXT", "Ciao", "")],
)
def test_send_single_sms_bad_input(send, key, content_type, content, numero):
    result = parse(send.SendSingleSMS(key, 1, "S", content_type, content, numero, None))

    assert result.findtext("errorCode") == "-2"
    assert result.findtext("errorDescription")
    assert not SmsMessage.objects.exists()
    assert not Recipient.objects.filter(mobile_number__isnull=False).exists()


def test_send_direct_sms(send, key):
    result = parse(send.SendDirectSMS(key, 1, "Ordine spedito", "+393350000009", None))

    assert [child.tag for child in result] == ["errorCode", "errorDescription", "deliveryID"]
    sending = SmsSending.objects.get(pk=int(result.findtext("deliveryID")))
    assert sending.message.subject == "Transactional SMS"
    assert list(SinkSms.objects.filter(sending=sending).values_list("number", "text")) == [("00393350000009", "Ordine spedito")]

    again = parse(send.SendDirectSMS(key, 1, "Ordine consegnato", "3350000009", None))
    assert SmsSending.objects.get(pk=int(again.findtext("deliveryID"))).message_id == sending.message_id
    assert SmsMessage.objects.count() == 1


def test_send_direct_sms_bad_number(send, key):
    assert error_code(send.SendDirectSMS(key, 1, "Ciao", "+99", None)) == -2
    assert not SmsMessage.objects.exists()


# --- Status and queue -----------------------------------------------------------------------


def test_sms_delivery_status(send, key):
    subscribe_sms("3350000001")
    sms_id = create_sms(send, key)
    delivery_id = int(parse(send.SendSMS(key, 1, sms_id, None)).findtext("deliveryID"))

    status = parse(send.GetSMSDeliveryStatus(key, delivery_id))

    assert [child.tag for child in status] == ["errorCode", "errorDescription", "deliveryID", "smsID", "status"]
    assert status.findtext("smsID") == str(sms_id)
    assert status.findtext("status") == "done"
    assert error_code(send.GetSMSDeliveryStatus(key, 987654)) == -33


@pytest.mark.parametrize("name", ["StartDeliverySMS", "StopDeliverySMS"])
def test_start_and_stop_delivery_sms(send, key, name):
    result = parse(getattr(send, name)(key))

    assert result.tag == f"{name}Result"
    assert result.findtext("errorCode") == "0"


def test_get_sms_queues_without_schedules(send, key):
    subscribe_sms("3350000001")
    send.SendSMSFast(key, 1, "Flash", "Solo oggi", None)

    result = parse(send.GetSMSQueues(key, 1))

    assert [child.tag for child in result] == ["errorCode", "errorDescription", "queues"]
    assert len(result.find("queues")) == 0
    assert error_code(send.GetSMSQueues(key, 777)) == -30


def test_remove_sms_queue_unknown_schedule(send, key):
    result = parse(send.RemoveSMSQueue(key, 0, 987654, True))

    assert result.findtext("errorCode") == "-33"
    assert "987654" in result.findtext("errorDescription")
    assert error_code(send.RemoveSMSQueue(key, 987654, 0, False)) == -33


@pytest.mark.parametrize(
    "deliverydt, time_zone, code",
    [("20991231120000", 110, -33), ("20991231120000", 4, -33), ("20991231", 110, -2), ("20991231120000", 9999, -2)],
)
def test_schedule_sms_queue_unknown_schedule_or_bad_time(send, key, deliverydt, time_zone, code):
    sms_id = create_sms(send, key)

    result = parse(send.ScheduleSMSQueue(key, 1, sms_id, 3, deliverydt, time_zone))

    assert result.tag == "ScheduleSMSQueueResult"
    assert result.findtext("errorCode") == str(code)
    assert not SmsSending.objects.exists()


def test_schedule_sms_queue_unknown_message(send, key):
    assert error_code(send.ScheduleSMSQueue(key, 1, 987654, 0, "20991231120000", 110)) == -32


# --- Access keys and other consoles -----------------------------------------------------------


CALLS = {
    "GetSMS": lambda send, key, other: send.GetSMS(key, 9),
    "CreateSMS": lambda send, key, other: send.CreateSMS(key, 9, "S", "T", None),
    "SendSMS": lambda send, key, other: send.SendSMS(key, 1, other["message"].pk, None),
    "SendSMSFast": lambda send, key, other: send.SendSMSFast(key, 9, "S", "T", None),
    "SendSingleSMS": lambda send, key, other: send.SendSingleSMS(key, 9, "S", "TEXT", "T", "3350000001", None),
    "SendDirectSMS": lambda send, key, other: send.SendDirectSMS(key, 9, "T", "3350000001", None),
    "GetSMSDeliveryStatus": lambda send, key, other: send.GetSMSDeliveryStatus(key, other["sending"].pk),
    "GetSMSQueues": lambda send, key, other: send.GetSMSQueues(key, 9),
    "RemoveSMSQueue": lambda send, key, other: send.RemoveSMSQueue(key, other["sending"].pk, 0, True),
    "ScheduleSMSQueue": lambda send, key, other: send.ScheduleSMSQueue(key, 1, other["message"].pk, 0, "20991231120000", 110),
}
OTHER_CONSOLE_CODES = {
    "GetSMS": -30,
    "CreateSMS": -30,
    "SendSMS": -32,
    "SendSMSFast": -30,
    "SendSingleSMS": -30,
    "SendDirectSMS": -30,
    "GetSMSDeliveryStatus": -33,
    "GetSMSQueues": -30,
    "RemoveSMSQueue": -33,
    "ScheduleSMSQueue": -32,
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_other_console_ids_are_unknown(send, key, other_console, name):
    counts = (SmsMessage.objects.count(), SmsSending.objects.count(), Recipient.objects.count())

    assert error_code(CALLS[name](send, key, other_console)) == OTHER_CONSOLE_CODES[name]
    assert (SmsMessage.objects.count(), SmsSending.objects.count(), Recipient.objects.count()) == counts
    assert not SinkSms.objects.exists()


@pytest.mark.parametrize("name", sorted(CALLS) + ["StartDeliverySMS", "StopDeliverySMS"])
def test_bad_access_key(send, other_console, name):
    if name in CALLS:
        result = CALLS[name](send, "not-a-key", other_console)
    else:
        result = getattr(send, name)("not-a-key")

    assert error_code(result) == -20


def test_soap12_port(demo, server_url):
    proxy = client(server_url, "MailupSend", soap12=True)
    key = login(proxy)

    assert error_code(proxy.GetSMSQueues(key, 1)) == 0
    assert error_code(proxy.GetSMS(key, 1)) == 0


def test_wrong_type_is_fault(demo, http):
    envelope = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        '<GetSMS xmlns="http://services.mailupnet.it/WS"><accessKey>x</accessKey><listID>uno</listID></GetSMS>'
        "</soap:Body></soap:Envelope>"
    )
    response = http.post("/MailupSend.asmx", data=envelope, headers={"Content-Type": "text/xml; charset=utf-8"})

    assert response.status_code == 500
    assert "soap:Client" in response.text
