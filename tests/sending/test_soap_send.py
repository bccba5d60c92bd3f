"""MailupSend over SOAP with zeep, from the WSDL the live server returns."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from lists import services as lists_services
from lists.models import AccessKey, Account, Group, List, Subscription
from sending import services
from sending.models import Message, Sending, Template
from sending.soap_send import sending_arguments
from tests.personas import demo_list
from tests.sending.campaigns import subscribe
from tests.sending.soap_clients import client, error_code, login, options, parse


@pytest.fixture
def send(demo, sink, server_url):
    return client(server_url, "MailupSend")


@pytest.fixture
def key(send):
    return login(send)


# --- Login, LoginFromId, Logout ---------------------------------------------------


@pytest.mark.parametrize("user, password", [("a1234", "demo-ws-1234"), ("m1234", "demo-console-1234"), ("A1234", "demo-ws-1234")])
def test_login_from_id_accepts_both_users(send, user, password):
    result = parse(send.LoginFromId(user, password, 1234))

    assert result.tag == "LoginResult"
    assert result.findtext("errorCode") == "0"
    assert result.findtext("errorDescription") == ""
    assert len(result.findtext("accessKey")) >= 32


@pytest.mark.parametrize(
    "user, password, console_id",
    [("a1234", "wrong", 1234), ("a1234", "demo-ws-1234", 1235), ("a9999", "demo-ws-1234", 9999), ("x", "", 0)],
)
def test_login_from_id_failure_has_empty_key(send, user, password, console_id):
    result = parse(send.LoginFromId(user, password, console_id))

    assert result.tag == "LoginResult"
    assert result.findtext("errorCode") == "-10"
    assert result.findtext("errorDescription")
    assert result.findtext("accessKey") == ""
    assert not AccessKey.objects.exists()


def test_login_takes_bare_host(send):
    result = parse(send.Login("a1234", "demo-ws-1234", "abcd.s02.com"))

    assert result.tag == "LoginResult"
    assert result.findtext("errorCode") == "0"
    assert result.findtext("accessKey")


@pytest.mark.parametrize("url", ["https://abcd.s02.com", "abcd.s02.com/console", ""])
def test_login_rejects_url_with_scheme_or_path(send, url):
    result = parse(send.Login("a1234", "demo-ws-1234", url))

    assert result.findtext("errorCode") == "-10"
    assert result.findtext("accessKey") == ""


def test_suspended_account_cannot_log_in(send):
    Account.objects.filter(console_id=1234).update(status=Account.Status.SUSPENDED)

    result = parse(send.LoginFromId("a1234", "demo-ws-1234", 1234))

    assert result.findtext("errorCode") == "-11"


def test_key_works_on_every_service(send, key, server_url):
    report = client(server_url, "MailupReport")
    manage = client(server_url, "MailupManage", soap12=True)

    assert error_code(report.ReportByMessageEN(key, 1, 0)) == 0
    assert error_code(manage.GetLists(key)) == 0


def test_logout_ends_key(send, key):
    assert send.Logout(key) == "<LogoutResult><errorCode>0</errorCode><errorDescription></errorDescription></LogoutResult>"

    assert error_code(send.GetLists(key)) == -20
    assert error_code(send.Logout(key)) == -20


def test_expired_key_is_rejected(send, key):
    AccessKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    result = parse(send.GetLists(key))

    assert result.findtext("errorCode") == "-20"
    assert "expired" in result.findtext("errorDescription")


def test_key_is_not_stored_in_clear(key):
    assert not AccessKey.objects.filter(digest=key).exists()
    assert AccessKey.objects.get().expires_at - AccessKey.objects.get().created_at == timedelta(minutes=60)


# --- Lists, groups, fields ------------------------------------------------------------


def test_get_lists_shape(send, key):
    assert send.GetLists(key) == (
        "<GetListsResult><errorCode>0</errorCode><errorDescription></errorDescription><lists>"
        "<list><listID>1</listID><listName>Newsletter</listName></list>"
        "<list><listID>2</listID><listName>Offers</listName></list>"
        "</lists></GetListsResult>"
    )


def test_get_groups_shape(send, key):
    clienti, prospect = Group.objects.filter(list=demo_list()).order_by("pk")

    assert send.GetGroups(key, 1) == (
        "<GetGroupsResult><errorCode>0</errorCode><errorDescription></errorDescription><list><groups>"
        f"<group><groupID>{clienti.pk}</groupID><groupName>Clienti</groupName></group>"
        f"<group><groupID>{prospect.pk}</groupID><groupName>Prospect</groupName></group>"
        "</groups></list></GetGroupsResult>"
    )


def test_unknown_list_gives_code(send, key):
    result = parse(send.GetGroups(key, 99))

    assert result.tag == "GetGroupsResult"
    assert result.findtext("errorCode") == "-30"
    assert "99" in result.findtext("errorDescription")


def test_get_fields_lists_39_fields(send, key):
    result = parse(send.GetFields(key))

    assert result.tag == "GetFields"
    assert result.find("errorCode") is None
    fields = result.findall("Fields/Field")
    assert len(fields) == 39
    assert (fields[0].get("Name"), fields[0].get("Id")) == ("nome", "1")
    assert send.GetFields(key).startswith('<GetFields><Fields><Field Name="nome" Id="1"/><Field Name="cognome" Id="2"/>')


def test_get_fields_failure_is_error_element(send):
    result = parse(send.GetFields("not-a-key"))

    assert result.tag == "GetFields"
    assert [child.tag for child in result] == ["Error"]
    assert result.findtext("Error")


def test_get_fields_st_adds_codes(send, key):
    result = parse(send.GetFields_st(key))

    assert result.tag == "GetFields_st"
    assert [child.tag for child in result] == ["errorCode", "errorDescription", "Fields"]
    assert result.findtext("errorCode") == "0"


def test_send_create_list_and_delete(send, key):
    created = parse(send.CreateList(key, "Clienti 2027", "k1"))

    new_list = List.objects.get(name="Clienti 2027")
    assert created.tag == "CreateList"
    assert [(item.get("Guid"), item.get("Id"), item.get("Name")) for item in created.findall("Lists/List")] == [
        (str(new_list.guid), "3", "Clienti 2027")
    ]
    assert new_list.sender_email == demo_list().sender_email

    assert error_code(send.DeleteList(key, 3, "k1")) == 0
    assert not List.objects.filter(name="Clienti 2027").exists()


def test_send_create_list_st_failure(send, key):
    failed = parse(send.CreateList(key, "  ", ""))
    coded = parse(send.CreateList_st(key, "Estate", ""))

    assert failed.tag == "CreateList"
    assert [child.tag for child in failed] == ["Error"]
    assert coded.tag == "CreateList_st"
    assert coded.findtext("errorCode") == "0"
    assert coded.find("Lists/List").get("Name") == "Estate"
    assert error_code(send.DeleteList_st(key, int(coded.find("Lists/List").get("Id")), "")) == 0


# --- Newsletters ----------------------------------------------------------------------

PAGE = "<html><head><title>Dicembre</title></head><body><p>Ciao [nome]</p></body></html>"


def test_create_newsletter_and_list_it(send, key):
    result = parse(send.CreateNewsletter(key, 1, "Novità", "HTML", PAGE, options(note="prima bozza", link_track="false")))

    message = Message.objects.get()
    assert result.tag == "CreateNewsletterResult"
    assert result.findtext("newsletterID") == str(message.pk)
    assert (message.subject, message.note, message.tracking) == ("Novità", "prima bozza", False)
    assert "Ciao [nome]" in message.text

    listed = parse(send.GetNewsletters(key, 1))
    [item] = listed.findall("list/newsletters/newsletter")
    assert item.findtext("newsletterID") == str(message.pk)
    assert item.findtext("subject") == "Novità"
    assert item.findtext("note") == "prima bozza"
    assert item.findtext("creationdate") == timezone.localtime(message.created_at).strftime("%d/%m/%Y %H:%M:%S")


@pytest.mark.parametrize("content_type", ["TEXT", "file", "Html"])
def test_create_newsletter_types_as_html(send, key, content_type):
    assert error_code(send.CreateNewsletter(key, 1, "S", content_type, "<p>x</p>", None)) == 0
    assert Message.objects.get().html == "<p>x</p>"


@pytest.mark.parametrize("content_type", ["URL", "PDF"])
def test_create_newsletter_rejects_other_types(send, key, content_type):
    result = parse(send.CreateNewsletter(key, 1, "S", content_type, "http://127.0.0.1:9/page", None))

    assert result.findtext("errorCode") == "-2"
    assert not Message.objects.exists()


@pytest.mark.parametrize("subject", ["Prima\r\nBcc: x@example.com", "Prima\nriga", "Tab\tdentro"])
def test_subject_line_break_rejected(send, key, subject):
    result = parse(send.CreateNewsletter(key, 1, subject, "HTML", "<p>x</p>", None))

    assert result.findtext("errorCode") == "-2"
    assert "subject" in result.findtext("errorDescription")
    assert not Message.objects.exists()


def test_edit_subject_line_break_rejected(send, key):
    created = parse(send.CreateNewsletter(key, 1, "Prima", "HTML", "<p>uno</p>", None))
    message_id = int(created.findtext("newsletterID"))

    result = parse(send.EditNewsletter(key, 1, message_id, "Seconda\nriga", "HTML", "<p>due</p>", None))

    assert result.findtext("errorCode") == "-2"
    assert Message.objects.get().subject == "Prima"


def test_edit_newsletter(send, key):
    created = parse(send.CreateNewsletter(key, 1, "Prima", "HTML", "<p>uno</p>", options(note="n")))
    message_id = int(created.findtext("newsletterID"))

    result = parse(send.EditNewsletter(key, 1, message_id, "Seconda", "HTML", "<p>due</p>", None))

    message = Message.objects.get()
    assert result.findtext("newsletterID") == str(message_id)
    assert (message.subject, message.html, message.note) == ("Seconda", "<p>due</p>", "n")
    assert message.text.strip() == "due"
    assert error_code(send.EditNewsletter(key, 2, message_id, "x", "HTML", "", None)) == -32


def test_get_newsletter_code(send, key):
    message_id = int(parse(send.CreateNewsletter(key, 1, "Codice", "HTML", PAGE, None)).findtext("newsletterID"))

    result = parse(send.GetNewsletterCode(key, 1, message_id, False))

    assert [child.tag for child in result][2:] == [
        "listID",
        "newsletterID",
        "newsletterSubject",
        "newsletterHeader",
        "newsletterBody",
        "newsletterCode",
    ]
    assert result.findtext("newsletterHeader") == "<title>Dicembre</title>"
    assert result.findtext("newsletterBody") == "<p>Ciao [nome]</p>"
    assert result.findtext("newsletterCode") == PAGE


def test_get_newsletter_code_of_template(send, key):
    template = Template.objects.create(account=demo_list().account, title="Natale", html=PAGE)

    result = parse(send.GetNewsletterCode(key, 1, template.pk, True))

    assert result.findtext("errorCode") == "0"
    assert result.findtext("newsletterID") == str(template.pk)
    assert result.findtext("newsletterSubject") == "Natale"
    assert result.findtext("newsletterBody") == "<p>Ciao [nome]</p>"
    assert result.findtext("newsletterCode") == PAGE
    assert error_code(send.GetNewsletterCode(key, 1, template.pk + 1000, True)) == -32


# --- Sendings --------------------------------------------------------------------------


def test_send_newsletter_to_groups(send, key, sink):
    clienti, prospect = Group.objects.filter(list=demo_list()).order_by("pk")
    subscribe("anna@example.com", group_ids=[clienti.pk])
    subscribe("bruno@example.com", group_ids=[clienti.pk, prospect.pk])
    subscribe("carla@example.com")
    message_id = int(parse(send.CreateNewsletter(key, 1, "Gruppi", "HTML", "<p>ciao</p>", None)).findtext("newsletterID"))
    chosen = options(send_to="GROUPS", recipients=str(clienti.pk), exclude=str(prospect.pk), from_email="promo@demo.example", from_name="Promo")

    result = parse(send.SendNewsletter(key, 1, message_id, chosen))

    sending = Sending.objects.get()
    assert result.findtext("errorCode") == "0"
    assert result.findtext("deliveryID") == str(sending.pk)
    received = sink.wait_for(1, sending_id=sending.pk)
    assert [message.rcpt_to for message in received] == [["anna@example.com"]]
    assert received[0].from_header == "Promo <promo@demo.example>"
    assert received[0].dkim_result == "pass"


def test_send_newsletter_to_recipients(send, key, sink):
    subscribe("anna@example.com")
    subscribe("bruno@example.com")
    message_id = int(parse(send.CreateNewsletter(key, 1, "Pochi", "HTML", "<p>ciao</p>", None)).findtext("newsletterID"))

    result = parse(send.SendNewsletter(key, 1, message_id, options(send_to="RECIPIENTS", recipients="Bruno@Example.com;nobody@example.com")))

    assert result.findtext("errorCode") == "0"
    received = sink.wait_for(1, sending_id=int(result.findtext("deliveryID")))
    assert [message.rcpt_to for message in received] == [["bruno@example.com"]]


def saved_filters(list_id=1):
    """Save two filters on a demo list: city Milano, and addresses starting with "a"."""
    milano = services.save_filter(demo_list(list_id), "Milano", [{"field": "campo2", "operator": "equals", "value": "Milano"}])
    letter_a = services.save_filter(demo_list(list_id), "Lettera A", [{"field": "email", "operator": "starts_with", "value": "a"}])
    return milano, letter_a


@pytest.mark.parametrize(
    "filters_as, expected",
    [
        ("", ["anna@example.com"]),
        ("AND", ["anna@example.com"]),
        ("or", ["alice@example.com", "anna@example.com", "bruno@example.com"]),
    ],
)
def test_send_newsletter_to_saved_filters(send, key, sink, filters_as, expected):
    subscribe("anna@example.com", fields={2: "Milano"})
    subscribe("bruno@example.com", fields={2: "milano"})
    subscribe("alice@example.com", fields={2: "Roma"})
    subscribe("carla@example.com", fields={2: "Roma"})
    milano, letter_a = saved_filters()
    message_id = int(parse(send.CreateNewsletter(key, 1, "Filtri", "HTML", "<p>ciao</p>", None)).findtext("newsletterID"))
    chosen = options(filters=f"{milano.pk};{letter_a.pk}", filters_as=filters_as)

    result = parse(send.SendNewsletter(key, 1, message_id, chosen))

    assert result.findtext("errorCode") == "0"
    sending = Sending.objects.get(pk=int(result.findtext("deliveryID")))
    assert list(sending.filters.order_by("pk")) == [milano, letter_a]
    received = sink.wait_for(len(expected), sending_id=sending.pk)
    assert sorted(message.rcpt_to[0] for message in received) == expected


def test_send_newsletter_fast_with_filter(send, key, sink):
    subscribe("anna@example.com", fields={2: "Milano"})
    subscribe("carla@example.com", fields={2: "Roma"})
    milano, _letter_a = saved_filters()

    result = parse(send.SendNewsletterFast(key, 1, "Veloce", "HTML", "<p>ciao</p>", options(filters=str(milano.pk))))

    assert result.findtext("errorCode") == "0"
    received = sink.wait_for(1, sending_id=int(result.findtext("deliveryID")))
    assert [message.rcpt_to for message in received] == [["anna@example.com"]]


def test_group_of_other_list_changes_nothing(send, key):
    other_list_group = Group.objects.filter(list=demo_list(2)).first()
    own_group = Group.objects.filter(list=demo_list()).first()
    message_id = int(parse(send.CreateNewsletter(key, 1, "S", "HTML", "<p>x</p>", None)).findtext("newsletterID"))
    chosen = options(send_to="GROUPS", recipients=f"{own_group.pk};999999;{other_list_group.pk}")

    result = parse(send.SendNewsletter(key, 1, message_id, chosen))

    assert result.findtext("errorCode") == "-31"
    assert result.findtext("errorDescription") == "Group 999999 does not exist in list 1."
    assert not Sending.objects.exists()


def test_send_groups_resolved_in_one_query(demo):
    mailing_list = demo_list()
    group_ids = [lists_services.create_group(mailing_list, f"Gruppo {number}").pk for number in range(6)]
    raw_options = {
        "send_to": "GROUPS",
        "recipients": ";".join(str(group_id) for group_id in reversed(group_ids[:4])),
        "exclude": ";".join(str(group_id) for group_id in group_ids[4:]),
    }

    with CaptureQueriesContext(connection) as queries:
        arguments = sending_arguments(mailing_list, raw_options)

    assert [group.pk for group in arguments["groups"]] == list(reversed(group_ids[:4]))
    assert [group.pk for group in arguments["excluded_groups"]] == group_ids[4:]
    group_queries = [query for query in queries if '"lists_group"' in query["sql"]]
    assert len(group_queries) == 2


def test_filter_of_other_list_changes_nothing(send, key):
    other_list_filter, _letter_a = saved_filters(list_id=2)
    message_id = int(parse(send.CreateNewsletter(key, 1, "S", "HTML", "<p>x</p>", None)).findtext("newsletterID"))

    result = parse(send.SendNewsletter(key, 1, message_id, options(filters=str(other_list_filter.pk))))

    assert result.findtext("errorCode") == "-2"
    assert f"Filter {other_list_filter.pk} does not exist in list 1" in result.findtext("errorDescription")
    assert not Sending.objects.exists()


@pytest.mark.parametrize(
    "chosen",
    [
        options(send_to="EVERYONE"),
        options(send_to="GROUPS", recipients="999999"),
        options(send_to="GROUPS"),
        options(exclude="x;y"),
        options(deliverydt="31-12-2026"),
        options(deliverydt="99991231233000"),
        options(filters="3"),
        options(filters="x"),
        options(filters_as="XOR"),
        options(from_email="not an address"),
    ],
)
def test_send_newsletter_bad_options_change_nothing(send, key, chosen):
    message_id = int(parse(send.CreateNewsletter(key, 1, "S", "HTML", "<p>x</p>", None)).findtext("newsletterID"))

    result = parse(send.SendNewsletter(key, 1, message_id, chosen))

    assert int(result.findtext("errorCode")) < 0
    assert result.findtext("errorDescription")
    assert not Sending.objects.exists()


def test_send_newsletter_later(send, key):
    message_id = int(parse(send.CreateNewsletter(key, 1, "Dopo", "HTML", "<p>x</p>", None)).findtext("newsletterID"))
    when = timezone.localtime() + timedelta(days=2)

    result = parse(send.SendNewsletter(key, 1, message_id, options(deliverydt=when.strftime("%Y%m%d%H%M%S"))))

    sending = Sending.objects.get(pk=int(result.findtext("deliveryID")))
    assert sending.status == Sending.Status.SCHEDULED
    assert sending.scheduled_at == when.replace(microsecond=0)
    status = parse(send.GetNewsletterDeliveryStatus(key, sending.pk))
    assert [child.tag for child in status] == ["errorCode", "errorDescription", "deliveryID", "newsletterID", "status"]
    assert status.findtext("newsletterID") == str(message_id)
    assert status.findtext("status") == "scheduled"


def test_delivery_status_of_other_console_is_hidden(send, key):
    assert error_code(send.GetNewsletterDeliveryStatus(key, 12345)) == -33


def test_send_single_newsletter_adds_recipient(send, key, sink):
    result = parse(send.SendSingleNewsletter(key, 1, "Solo per te", "HTML", "<p>ciao</p>", "Nuovo@Example.com", None))

    assert result.findtext("errorCode") == "0"
    sending = Sending.objects.get(pk=int(result.findtext("deliveryID")))
    assert result.findtext("newsletterID") == str(sending.message_id)
    assert [message.rcpt_to for message in sink.wait_for(1, sending_id=sending.pk)] == [["nuovo@example.com"]]
    assert Subscription.objects.get(recipient__email="nuovo@example.com").status == Subscription.Status.SUBSCRIBED


def test_send_single_newsletter_by_id(send, key, sink):
    subscribe("anna@example.com")
    message_id = int(parse(send.CreateNewsletter(key, 1, "Esistente", "HTML", "<p>x</p>", None)).findtext("newsletterID"))

    result = parse(send.SendSingleNewsletter(key, 1, "", "ID", str(message_id), "anna@example.com", None))

    assert result.findtext("newsletterID") == str(message_id)
    assert Message.objects.count() == 1
    assert len(sink.wait_for(1, sending_id=int(result.findtext("deliveryID")))) == 1


def test_send_single_newsletter_bad_address(send, key):
    result = parse(send.SendSingleNewsletter(key, 1, "S", "HTML", "<p>x</p>", "not-an-address", None))

    assert result.findtext("errorCode") == "-2"
    assert not Message.objects.exists()


def test_soap12_port_and_alias_path(demo, server_url):
    proxy = client(server_url, "MailupSend", soap12=True, path="/services/MAILUPSEND.asmx")
    key = login(proxy)

    assert error_code(proxy.GetLists(key)) == 0
    assert error_code(proxy.GetNewsletters(key, 2)) == 0
