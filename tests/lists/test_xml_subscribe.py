"""xmlSubscribe.aspx over real HTTP: return codes, the outcome table, fields, groups, mobile numbers."""

import re

import pytest

from lists.models import Subscription, SubscriptionEvent
from sending.models import SinkSms
from sending.sink import parse_message
from tests.lists.pages import (
    LIST1_GUID,
    LIST2_GUID,
    demo_list,
    events,
    group_id,
    group_names,
    paragraphs,
    recipient,
    row_counts,
    status,
    subscription,
    system_mails,
)

PAGE = "/frontend/xmlSubscribe.aspx"
CONFIRM_LINK = re.compile(r"https?://\S+/frontend/confirm\.aspx\?code=\S+")
Status = Subscription.Status


def subscribe(http, **params):
    """Call xmlSubscribe.aspx with retCode=1 and return the body, which must be a bare integer."""
    response = http.get(PAGE, params={"retCode": "1", **params})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert re.fullmatch(r"-?\d+", response.text), response.text
    return response.text


def unsubscribe_with_reason(email, reason, list_id=1):
    """Put an existing subscription into the unsubscribed state with a MailUp reason code."""
    Subscription.objects.filter(recipient__email=email, list__list_id=list_id).update(
        status=Status.UNSUBSCRIBED, optout_reason=reason
    )


# --- Outcome table -------------------------------------------------------------


def test_new_address_pending_with_confirmation(demo, http, mail_sink):
    assert subscribe(http, List="1", Email="new@example.com") == "0"

    assert status("new@example.com") == Status.PENDING
    [mail] = mail_sink.wait_for(1)
    assert mail.rcpt_to == ["new@example.com"]
    assert CONFIRM_LINK.search(parse_message(bytes(mail.raw))["text"])


def test_new_address_confirm_0_subscribed(demo, http):
    assert subscribe(http, List="1", Email="direct@example.com", Confirm="0") == "0"

    assert status("direct@example.com") == Status.SUBSCRIBED
    assert system_mails() == []


def test_pending_address_gets_confirmation_again(demo, http):
    assert subscribe(http, List="1", Email="again@example.com") == "0"
    assert subscribe(http, List="1", Email="again@example.com", Confirm="1") == "0"

    assert status("again@example.com") == Status.PENDING
    assert len(system_mails(to_email="again@example.com")) == 2
    assert len(events("again@example.com", kind=SubscriptionEvent.Kind.SUBSCRIBE_REQUEST)) == 1


def test_pending_address_confirm_0_subscribed(demo, http):
    subscribe(http, List="1", Email="waiting@example.com")

    assert subscribe(http, List="1", Email="waiting@example.com", Confirm="0") == "0"
    assert status("waiting@example.com") == Status.SUBSCRIBED
    assert len(system_mails()) == 1


@pytest.mark.parametrize("confirm", ["1", "0"])
def test_subscribed_address_returns_3(demo, http, confirm):
    subscribe(http, List="1", Email="member@example.com", Confirm="0")
    before = row_counts()

    assert subscribe(http, List="1", Email="member@example.com", Confirm=confirm) == "3"
    assert status("member@example.com") == Status.SUBSCRIBED
    assert row_counts() == before


@pytest.mark.parametrize("reason", ["0", "2", "32", "64", "128"])
def test_unsubscribed_by_choice_becomes_pending(demo, http, reason):
    subscribe(http, List="1", Email="comeback@example.com", Confirm="0")
    unsubscribe_with_reason("comeback@example.com", reason)

    assert subscribe(http, List="1", Email="comeback@example.com") == "0"
    assert status("comeback@example.com") == Status.PENDING
    assert len(system_mails(to_email="comeback@example.com")) == 1


def test_unsubscribed_by_choice_confirm_0_subscribed(demo, http):
    subscribe(http, List="1", Email="comeback@example.com", Confirm="0")
    unsubscribe_with_reason("comeback@example.com", "2")

    assert subscribe(http, List="1", Email="comeback@example.com", Confirm="0") == "0"
    row = subscription("comeback@example.com")
    assert row.status == Status.SUBSCRIBED
    assert row.optout_reason == ""


@pytest.mark.parametrize("reason", ["8", "80", "81", "82", "83", "16", "161", "162"])
@pytest.mark.parametrize("confirm", ["1", "0"])
def test_bounced_or_complaining_address_returns_1(demo, http, reason, confirm):
    subscribe(http, List="1", Email="bounced@example.com", Confirm="0", Group=str(group_id("Clienti")))
    unsubscribe_with_reason("bounced@example.com", reason)
    before = row_counts()

    code = subscribe(
        http,
        List="1",
        Email="bounced@example.com",
        Confirm=confirm,
        csvFldNames="campo1",
        csvFldValues="Changed",
        Group=str(group_id("Prospect")),
    )
    assert code == "1"
    row = subscription("bounced@example.com")
    assert row.status == Status.UNSUBSCRIBED
    assert row.optout_reason == reason
    assert recipient("bounced@example.com").fields == {}
    assert group_names("bounced@example.com") == ["Clienti"]
    assert row_counts() == before


def test_bounced_on_second_list_changes_neither(demo, http):
    subscribe(http, List="2", Email="half@example.com", Confirm="0")
    unsubscribe_with_reason("half@example.com", "80", list_id=2)
    before = row_counts()

    assert subscribe(http, List="1,2", Email="half@example.com", Confirm="0") == "1"
    assert status("half@example.com", list_id=1) is None
    assert row_counts() == before


def test_3_needs_every_list_subscribed(demo, http):
    subscribe(http, List="1", Email="one@example.com", Confirm="0")

    assert subscribe(http, List="1,2", Email="one@example.com", Confirm="0") == "0"
    assert status("one@example.com", list_id=2) == Status.SUBSCRIBED
    assert subscribe(http, List="1,2", Email="one@example.com", Confirm="0") == "3"


def test_3_needs_every_channel_subscribed(demo, http):
    subscribe(http, List="1", Email="both@example.com", Confirm="0")

    assert subscribe(http, List="1", Email="both@example.com", Sms="00393331234567", Confirm="0") == "0"
    assert status("both@example.com", channel="sms") == Status.SUBSCRIBED
    assert subscribe(http, List="1", Email="both@example.com", Sms="00393331234567", Confirm="0") == "3"


def test_events_only_for_real_changes(demo, http):
    subscribe(http, List="1", Email="quiet@example.com", Confirm="0")
    subscribe(http, List="1", Email="quiet@example.com", Confirm="0")

    [event] = events("quiet@example.com")
    assert event.kind == SubscriptionEvent.Kind.SUBSCRIBE
    assert event.source == "API"


# --- Parameters that give 1 or 2 -------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"Email": "x@example.com"},
        {"List": "", "Email": "x@example.com"},
        {"List": "one", "Email": "x@example.com"},
        {"List": "0", "Email": "x@example.com"},
        {"List": "-1", "Email": "x@example.com"},
        {"List": "1.5", "Email": "x@example.com"},
        {"List": "99", "Email": "x@example.com"},
        {"List": "1,99", "Email": "x@example.com"},
        {"List": LIST1_GUID, "Email": "x@example.com"},
        {"List": "1"},
        {"List": "1", "Email": "", "Sms": ""},
        {"List": "1", "Email": "x@example.com", "Confirm": "yes"},
        {"List": "1", "Email": "x@example.com", "Group": "Clienti"},
        {"List": "1", "Email": "x@example.com", "ConfirmListID": "2"},
        {"List": "1", "Email": "x@example.com", "Dynsndmail": "not an address"},
    ],
)
def test_missing_or_malformed_parameter_returns_1(demo, http, params):
    assert subscribe(http, **params) == "1"
    assert row_counts()["recipients"] == 0


@pytest.mark.parametrize(
    "email",
    [
        "not-an-address",
        "a b@example.com",
        "@example.com",
        "user@",
        "user@@example.com",
        "x" * 250 + "@example.com",
        # IDNA encoding drops a zero-width space, so this was a second
        # recipient for the mailbox user@example.com.
        "user@example.com\u200b",
        "user@exa\u00admple.com",
        # U+FFFD is what undecodable bytes in the query string become.
        "user@example.com\ufffd",
    ],
)
def test_invalid_address_returns_2(demo, http, email):
    assert subscribe(http, List="1", Email=email) == "2"
    assert row_counts()["recipients"] == 0


def test_undecodable_address_returns_2(demo, raw):
    response = raw.get(f"{PAGE}?List=1&Email=user%40example.com%FF&retCode=1")
    assert response.text == "2"
    assert row_counts()["recipients"] == 0


def test_unencoded_plus_is_a_space(demo, raw):
    response = raw.get(f"{PAGE}?List=1&Email=a+b@example.com&retCode=1")
    assert response.text == "2"


def test_encoded_plus_kept(demo, http):
    assert subscribe(http, List="1", Email="a+b@example.com") == "0"
    assert status("a+b@example.com") == Status.PENDING


def test_address_stored_lower_case(demo, http):
    assert subscribe(http, List="1", Email="  Mario.Rossi@Example.COM ", Confirm="0") == "0"
    assert status("mario.rossi@example.com") == Status.SUBSCRIBED


def test_list_guid_must_match_list(demo, http):
    assert subscribe(http, List="1", ListGuid=LIST2_GUID, Email="g@example.com") == "1"
    assert subscribe(http, List="1", ListGuid="e347gh87347gh374hg34", Email="g@example.com") == "1"
    assert row_counts()["recipients"] == 0

    assert subscribe(http, List="1", ListGuid="", Email="g@example.com") == "0"
    assert subscribe(http, List="1,2", ListGuid=LIST2_GUID.upper(), Email="g@example.com") == "0"


# --- Fields ----------------------------------------------------------------------


def test_fields_stored_in_any_name_case(demo, http):
    code = subscribe(
        http,
        List="1",
        Email="fields@example.com",
        csvFldNames="campo1;Campo2;CAMPO39",
        csvFldValues="Mario;Rossi;x",
    )
    assert code == "0"
    assert recipient("fields@example.com").fields == {"1": "Mario", "2": "Rossi", "39": "x"}


def test_fields_applied_when_already_subscribed(demo, http):
    subscribe(http, List="1", Email="known@example.com", Confirm="0", csvFldNames="campo1", csvFldValues="Old")

    code = subscribe(http, List="1", Email="known@example.com", csvFldNames="campo1", csvFldValues="New")
    assert code == "3"
    assert recipient("known@example.com").fields == {"1": "New"}
    [change] = events("known@example.com", kind=SubscriptionEvent.Kind.PROFILE_CHANGE)
    assert change.details["fields"] == [1]
    assert change.source == "API"


@pytest.mark.parametrize(
    "names, values",
    [
        ("campo1;campo2", "Mario"),
        ("campo1", "Mario;Rossi"),
        ("campo1", "Via Roma; 1"),
        ("nome", "Mario"),
        ("campo0", "x"),
        ("campo40", "x"),
        ("campo100", "x"),
        ("campo1", "drop--table"),
        ("campo1", "x" * 201),
        ("", "x"),
    ],
)
def test_bad_field_pairs_return_1_without_change(demo, http, names, values):
    subscribe(http, List="1", Email="steady@example.com", Confirm="0", csvFldNames="campo1", csvFldValues="Kept")
    before = row_counts()

    code = subscribe(http, List="1", Email="steady@example.com", csvFldNames=names, csvFldValues=values)
    assert code == "1"
    assert recipient("steady@example.com").fields == {"1": "Kept"}
    assert row_counts() == before


def test_bad_field_pairs_create_no_recipient(demo, http):
    assert subscribe(http, List="1", Email="fresh@example.com", csvFldNames="campo1;campo2", csvFldValues="a") == "1"
    assert row_counts()["recipients"] == 0


def test_value_of_200_characters_accepted(demo, http):
    assert subscribe(http, List="1", Email="long@example.com", csvFldNames="campo3", csvFldValues="y" * 200) == "0"
    assert recipient("long@example.com").fields == {"3": "y" * 200}


# --- Groups ----------------------------------------------------------------------


def test_groups_added(demo, http):
    groups = f"{group_id('Clienti')},{group_id('Prospect')}"
    assert subscribe(http, List="1", Email="grouped@example.com", Group=groups) == "0"
    assert group_names("grouped@example.com") == ["Clienti", "Prospect"]


def test_groups_of_other_lists_ignored(demo, http):
    groups = f"{group_id('Clienti')},{group_id('VIP')},999999"
    assert subscribe(http, List="1", Email="picky@example.com", Group=groups) == "0"
    assert group_names("picky@example.com") == ["Clienti"]


def test_groups_of_every_named_list_added(demo, http):
    groups = f"{group_id('Clienti')},{group_id('VIP')}"
    assert subscribe(http, List="1,2", Email="wide@example.com", Group=groups) == "0"
    assert group_names("wide@example.com") == ["Clienti", "VIP"]


def test_groups_applied_when_already_subscribed(demo, http):
    subscribe(http, List="1", Email="later@example.com", Confirm="0")

    assert subscribe(http, List="1", Email="later@example.com", Group=str(group_id("Prospect"))) == "3"
    assert group_names("later@example.com") == ["Prospect"]


# --- Mobile numbers --------------------------------------------------------------


def test_sms_with_prefix(demo, http):
    assert subscribe(http, List="1", Sms="00393331234567", Confirm="0") == "0"

    person = recipient(None)
    assert person.mobile_prefix == "0039"
    assert person.mobile_number == "3331234567"
    assert status(None, channel="sms") == Status.SUBSCRIBED


def test_number_alone_confirms_by_sms(demo, http):
    assert subscribe(http, List="1", Sms="00393331234567") == "0"

    assert status(None, channel="sms") == Status.PENDING
    [text] = SinkSms.objects.all()
    assert text.number == "00393331234567"
    assert text.text.startswith("Conferma l'iscrizione a ")
    link = CONFIRM_LINK.search(text.text).group()
    assert http.get(link[link.index("/frontend/"):]).status_code == 200
    assert status(None, channel="sms") == Status.SUBSCRIBED
    assert system_mails() == []


def test_sms_confirmation_keeps_bracketed_list_name(demo, http):
    """A list name that looks like a merge tag is sent as written, not filled with the recipient's field."""
    demo_list().__class__.objects.filter(pk=demo_list().pk).update(name="Club [campo1]")

    assert subscribe(http, List="1", Sms="00393331234567", csvFldNames="campo1", csvFldValues="Anna") == "0"

    [text] = SinkSms.objects.all()
    assert "Club [campo1]" in text.text
    assert "Anna" not in text.text


def test_sms_without_prefix_gets_list_default(demo, http):
    offers = demo_list(2)
    offers.default_prefix = "0041"
    offers.save()

    assert subscribe(http, List="2", Sms="791234567", Confirm="0") == "0"
    person = recipient(None)
    assert person.mobile_prefix == "0041"
    assert person.mobile_number == "791234567"


@pytest.mark.parametrize(
    "number",
    ["+393331234567", "0039 333 1234567", "0039-3331234567", "333 1234567", "00393331234567x", "123", "0099912345678"],
)
def test_sms_with_plus_or_separators_returns_2(demo, http, number):
    assert subscribe(http, List="1", Sms=number, Confirm="0") == "2"
    assert row_counts()["recipients"] == 0


def test_valid_email_with_invalid_sms_returns_2(demo, http):
    assert subscribe(http, List="1", Email="ok@example.com", Sms="+393331234567") == "2"
    assert row_counts()["recipients"] == 0


def test_sms_already_subscribed_returns_3(demo, http):
    subscribe(http, List="1", Sms="00393331234567", Confirm="0")
    assert subscribe(http, List="1", Sms="3331234567", Confirm="0") == "3"


def test_number_of_other_recipient_returns_1(demo, http):
    subscribe(http, List="1", Email="owner@example.com", Sms="00393331234567", Confirm="0")
    before = row_counts()

    assert subscribe(http, List="2", Email="newcomer@example.com", Sms="00393331234567") == "1"
    assert row_counts() == before
    assert status("owner@example.com", list_id=2) is None


def test_address_and_number_of_two_recipients_return_1(demo, http):
    subscribe(http, List="1", Email="first@example.com", Sms="00393331234567", Confirm="0")
    subscribe(http, List="1", Email="second@example.com", Confirm="0")
    before = row_counts()

    assert subscribe(http, List="1", Email="second@example.com", Sms="00393331234567", Confirm="0") == "1"
    assert row_counts() == before
    assert recipient("second@example.com").mobile_number is None
    assert status("second@example.com", channel="sms") is None


def test_number_added_to_recipient_found_by_address(demo, http):
    subscribe(http, List="1", Email="grow@example.com", Confirm="0")

    assert subscribe(http, List="1", Email="grow@example.com", Sms="3331234567", Confirm="0") == "0"
    assert recipient("grow@example.com").mobile == "00393331234567"


# --- Confirmation requests -------------------------------------------------------


def test_one_confirmation_per_list_without_confirm_list(demo, http, mail_sink):
    assert subscribe(http, List="1,2", Email="two@example.com") == "0"

    mails = system_mails(to_email="two@example.com")
    assert sorted(mail.list.list_id for mail in mails) == [1, 2]
    assert len(mail_sink.wait_for(2)) == 2


def test_confirm_list_id_sends_one_request_for_all(demo, http, mail_sink):
    assert subscribe(http, List="1,2", Email="single@example.com", ConfirmListID="2") == "0"

    [mail] = system_mails(to_email="single@example.com")
    assert mail.list.list_id == 2
    [message] = mail_sink.wait_for(1)
    link = CONFIRM_LINK.search(parse_message(bytes(message.raw))["text"]).group(0)

    confirmed = http.open_link(link)
    assert confirmed.status_code == 200
    assert status("single@example.com", list_id=1) == Status.SUBSCRIBED
    assert status("single@example.com", list_id=2) == Status.SUBSCRIBED


def test_dynamic_sender_of_confirmation(demo, http, mail_sink):
    code = subscribe(http, List="1", Email="dyn@example.com", Dynsndmail="shop@brand.example", dynsndname="Brand Shop")
    assert code == "0"

    [message] = mail_sink.wait_for(1)
    headers = dict(parse_message(bytes(message.raw))["headers"])
    assert headers["From"] == "Brand Shop <shop@brand.example>"
    assert headers["Sender"] == "Demo Newsletter <newsletter@demo.example>"


def test_dynamic_sender_name_cannot_add_headers(demo, http, mail_sink):
    name = "Brand\r\nBcc: victim@example.org"
    code = subscribe(http, List="1", Email="inject@example.com", Dynsndmail="shop@brand.example", dynsndname=name)
    assert code == "0"

    [message] = mail_sink.wait_for(1)
    assert message.rcpt_to == ["inject@example.com"]
    headers = parse_message(bytes(message.raw))["headers"]
    assert "Bcc" not in [header for header, _value in headers]
    assert "shop@brand.example" in dict(headers)["From"]


# --- HTML result page --------------------------------------------------------------

PENDING_EN = "Thank you! We sent you an e-mail: open it and click the link to confirm your subscription."
SUBSCRIBED_EN = "Thank you! Your subscription is complete."
SUBSCRIBED_IT = "Grazie! La tua iscrizione è completata."
ALREADY_EN = "You are already subscribed to this list."
INVALID_IT = "L'indirizzo e-mail o il numero di cellulare non è valido."


def text_answer(response):
    """Return (the one <p> text, the page language) of an HTML response, checking its shape."""
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    texts, language = paragraphs(response.text)
    assert len(texts) == 1, texts
    return texts[0], language


def test_without_ret_code_answers_html(demo, http):
    response = http.get(PAGE, params={"List": "1", "Email": "page@example.com", "lang": "en"})
    assert text_answer(response) == (PENDING_EN, "en")
    assert status("page@example.com") == Status.PENDING


def test_ret_code_0_answers_html(demo, http):
    response = http.get(PAGE, params={"List": "1", "Email": "page@example.com", "Confirm": "0", "retCode": "0"})
    assert text_answer(response) == (SUBSCRIBED_IT, "it")


def test_text_answer_italian_by_default(demo, http):
    response = http.get(PAGE, params={"List": "1", "Email": "bad address"})
    assert text_answer(response) == (INVALID_IT, "it")


def test_text_answer_language_from_accept_language(demo, http):
    params = {"List": "1", "Email": "en@example.com", "Confirm": "0"}
    response = http.get(PAGE, params=params, headers={"Accept-Language": "en-GB,en;q=0.9,it;q=0.5"})
    assert text_answer(response) == (SUBSCRIBED_EN, "en")


def test_text_answer_lang_beats_accept_language(demo, http):
    params = {"List": "1", "Email": "it@example.com", "Confirm": "0", "lang": "IT"}
    response = http.get(PAGE, params=params, headers={"Accept-Language": "en"})
    assert text_answer(response) == (SUBSCRIBED_IT, "it")


def test_text_answer_unknown_lang_falls_back(demo, http):
    params = {"List": "1", "Email": "de@example.com", "Confirm": "0", "lang": "de"}
    response = http.get(PAGE, params=params, headers={"Accept-Language": "en"})
    assert text_answer(response) == (SUBSCRIBED_EN, "en")


def test_text_answer_already_subscribed(demo, http):
    subscribe(http, List="1", Email="twice@example.com", Confirm="0")

    response = http.get(PAGE, params={"List": "1", "Email": "twice@example.com", "lang": "en"})
    assert text_answer(response) == (ALREADY_EN, "en")


@pytest.mark.parametrize("params", [{}, {"List": "1"}, {"List": "x", "Email": "a@example.com"}])
def test_text_answer_error_is_a_sentence(demo, http, params):
    response = http.get(PAGE, params={**params, "lang": "en"})
    text, _language = text_answer(response)
    assert text.startswith("Your subscription could not be completed")


def test_text_answer_for_unregistered_caller(demo, outsider):
    response = outsider.get(PAGE, params={"List": "1", "Email": "far@example.com", "lang": "en"})
    text, _language = text_answer(response)
    assert text == "This site is not authorised to subscribe recipients."
    assert "-1011" not in response.text


def test_ret_code_in_body_answers_number(demo, http):
    response = http.post(PAGE, data={"List": "1", "Email": "body@example.com", "retCode": "1"})
    assert response.text == "0"


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "True"])
def test_ret_code_true_spellings(demo, http, value):
    response = http.get(PAGE, params={"List": "1", "Email": "flag@example.com", "retCode": value})
    assert response.text == "0"
