"""Malformed and hostile requests: never HTTP 500, always MailUp's exact code, never a half-written change."""

import re
import xml.etree.ElementTree as ElementTree
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from django.conf import settings

from lists import services
from lists.demo import DEMO_WS_PASSWORD
from lists.models import Recipient, Subscription
from tests.lists.pages import LIST1_GUID, demo_list, group_id, group_names, paragraphs, recipient, row_counts, status

Status = Subscription.Status
SUBSCRIBE = "/frontend/xmlSubscribe.aspx"
CHECK = "/frontend/xmlChkSubscriber.aspx"
UNSUBSCRIBE = "/frontend/xmlUnSubscribe.aspx"
UPDATE = "/frontend/xmlUpdSubscriber.aspx"
ACTIVATION = "/frontend/WSActivation.aspx"
HUGE = "99999999999999999999999"


def query(params):
    """Build a query string from (name, value) pairs whose values are already encoded."""
    return "&".join(f"{name}={value}" for name, value in params)


def numeric(response):
    assert response.status == 200, response.body[:200]
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert re.fullmatch(rb"-?\d+", response.body), response.body[:200]
    return response.text


@pytest.fixture
def subscriber(demo, http):
    """kept@example.com: subscribed to list 1, with campo1=Kept and group Clienti."""
    params = {
        "List": "1",
        "Email": "kept@example.com",
        "Confirm": "0",
        "retCode": "1",
        "csvFldNames": "campo1",
        "csvFldValues": "Kept",
        "Group": str(group_id("Clienti")),
    }
    assert http.get(SUBSCRIBE, params=params).text == "0"
    return recipient("kept@example.com")


def assert_subscriber_untouched():
    person = recipient("kept@example.com")
    assert person.fields == {"1": "Kept"}
    assert group_names("kept@example.com") == ["Clienti"]
    assert status("kept@example.com") == Status.SUBSCRIBED


# --- Missing and repeated parameters --------------------------------------------------


@pytest.mark.parametrize(
    "target, code",
    [
        (f"{SUBSCRIBE}?retCode=1", "1"),
        (f"{SUBSCRIBE}?retCode=1&List=&Email=&Sms=&Group=&csvFldNames=&csvFldValues=", "1"),
        (CHECK, "1"),
        (f"{CHECK}?ListGuid=&List=&Email=", "1"),
        (UNSUBSCRIBE, "1"),
        (UPDATE, "1"),
        ("/frontend/Updsubscriber.aspx", "1"),
    ],
)
def test_missing_parameters(subscriber, raw, target, code):
    before = row_counts()
    assert numeric(raw.get(target)) == code
    assert row_counts() == before


@pytest.mark.parametrize(
    "params, code",
    [
        ([("List", "1"), ("Email", "a%40example.com"), ("Email", "b%40example.com")], "2"),
        ([("List", "1"), ("email", "a%40example.com"), ("EMAIL", "b%40example.com")], "2"),
        ([("List", "1"), ("Email", "a%40example.com"), ("Confirm", "0"), ("Confirm", "1")], "1"),
        ([("List", "1"), ("List", "1"), ("Email", "a%40example.com"), ("Confirm", "0")], "0"),
        ([("List", "1"), ("List", "2"), ("Email", "a%40example.com"), ("Confirm", "0")], "0"),
        (
            [("List", "1"), ("Email", "a%40example.com"), ("csvFldNames", "campo1"), ("csvFldNames", "campo2")]
            + [("csvFldValues", "x")],
            "1",
        ),
    ],
)
def test_repeated_parameters_joined_with_commas(demo, raw, params, code):
    response = raw.get(f"{SUBSCRIBE}?{query(params + [('retCode', '1')])}")
    assert numeric(response) == code
    if code != "0":
        assert row_counts()["recipients"] == 0


def test_repeated_list_subscribes_each_list(demo, raw):
    numeric(raw.get(f"{SUBSCRIBE}?List=1&List=2&Email=a%40example.com&Confirm=0&retCode=1"))
    assert status("a@example.com", list_id=1) == Status.SUBSCRIBED
    assert status("a@example.com", list_id=2) == Status.SUBSCRIBED


def test_repeated_guid_returns_1(subscriber, raw):
    target = f"{CHECK}?ListGuid={LIST1_GUID}&ListGuid={LIST1_GUID}&List=1&Email=kept%40example.com"
    assert numeric(raw.get(target)) == "1"


@pytest.mark.parametrize("where", ["query", "body"])
def test_5000_list_parameters_return_1(demo, raw, where):
    repeated = "&".join(["List=1"] * 5000)
    if where == "query":
        response = raw.get(f"{SUBSCRIBE}?{repeated}&Email=many%40example.com&retCode=1")
    else:
        response = raw.post_form(f"{SUBSCRIBE}?retCode=1", f"{repeated}&Email=many%40example.com".encode())
    assert numeric(response) == "1"
    assert row_counts()["recipients"] == 0


def test_5000_list_parameters_text_answer(demo, raw):
    repeated = "&".join(["List=1"] * 5000)
    response = raw.get(f"{SUBSCRIBE}?{repeated}&Email=many%40example.com")
    assert response.status == 200
    texts, _language = paragraphs(response.text)
    assert len(texts) == 1


def test_5000_list_parameters_on_every_page(demo, raw):
    repeated = "&".join(["List=1"] * 5000)
    for page in (CHECK, UNSUBSCRIBE, UPDATE):
        assert numeric(raw.get(f"{page}?{repeated}&ListGuid={LIST1_GUID}&Email=x%40example.com")) == "1"
    response = raw.get(f"{ACTIVATION}?{repeated}")
    assert response.status == 200
    assert ElementTree.fromstring(response.body).findtext("mailupBody/ReturnCode") == "-1000"


def test_many_distinct_lists_return_1(demo, raw):
    lists = ",".join(str(number) for number in range(1, 5001))
    assert numeric(raw.get(f"{SUBSCRIBE}?List={lists}&Email=x%40example.com&retCode=1")) == "1"
    assert row_counts()["recipients"] == 0


# --- Broken encodings and control characters ----------------------------------------------


@pytest.mark.parametrize(
    "email, code",
    [
        ("%", "2"),
        ("%zz", "2"),
        ("%ff%fe%40example.com", "2"),
        ("%C3%28%40example.com", "2"),
        ("a%00%40example.com", "2"),
        ("a%40example.com%00", "2"),
        ("%00", "2"),
        ("a%0d%0aBcc:%20x%40example.com", "2"),
        ("%E2%80%AEa%40example.com", "2"),
    ],
)
def test_broken_email_bytes_return_2(demo, raw, email, code):
    assert numeric(raw.get(f"{SUBSCRIBE}?List=1&Email={email}&retCode=1")) == code
    assert numeric(raw.post_form(f"{SUBSCRIBE}?retCode=1", f"List=1&Email={email}".encode())) == code
    assert row_counts()["recipients"] == 0


def test_percent_in_local_part_is_literal(demo, raw):
    assert numeric(raw.get(f"{SUBSCRIBE}?List=1&Email=100%zz%40example.com&Confirm=0&retCode=1")) == "0"
    assert status("100%zz@example.com") == Status.SUBSCRIBED


def test_invalid_utf8_in_field_value_replaced(demo, raw):
    target = f"{SUBSCRIBE}?List=1&Email=bytes%40example.com&csvFldNames=campo1&csvFldValues=caf%e9%ff&retCode=1"
    assert numeric(raw.get(target)) == "0"
    assert recipient("bytes@example.com").fields == {"1": "caf\ufffd\ufffd"}


def test_invalid_utf8_in_multipart_body(demo, raw):
    boundary = "b0undary"
    parts = []
    fields = [
        ("List", b"1"),
        ("Email", b"mp@example.com"),
        ("csvFldNames", b"campo1"),
        ("csvFldValues", b"\xff\xfe"),
        ("retCode", b"1"),
    ]
    for name, value in fields:
        header = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        parts.append(header.encode() + value + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    response = raw.request("POST", SUBSCRIBE, body=body, headers=headers)
    assert numeric(response) == "0"
    assert recipient("mp@example.com").fields == {"1": "\ufffd\ufffd"}


# Each case puts a NUL byte into one parameter of an otherwise valid
# request. The third item is the code that the page must return.
NUL_IN_SUBSCRIBE = [
    ("List", "1%00", "1"),
    ("Email", "nul%00%40example.com", "2"),
    ("Sms", "0039333123%004567", "2"),
    ("Group", "%00", "1"),
    ("Confirm", "0%00", "1"),
    ("csvFldNames", "campo1%00", "1"),
    ("csvFldValues", "a%00b", "1"),
    ("ListGuid", f"{LIST1_GUID}%00", "1"),
    ("ConfirmListID", "1%00", "1"),
    ("Dynsndmail", "shop%00%40brand.example", "1"),
]


@pytest.mark.parametrize("name, value, code", NUL_IN_SUBSCRIBE)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_nul_byte_in_subscribe_parameter(demo, raw, name, value, code, method):
    params = {
        "List": "1",
        "Email": "nul@example.com",
        "Group": str(group_id("Clienti")),
        "Confirm": "0",
        "csvFldNames": "campo1",
        "csvFldValues": "x",
        "ListGuid": LIST1_GUID,
        "ConfirmListID": "1",
        "Dynsndmail": "shop%40brand.example",
    }
    params[name] = value
    encoded = query(params.items())
    if method == "GET":
        response = raw.get(f"{SUBSCRIBE}?{encoded}&retCode=1")
    else:
        response = raw.post_form(f"{SUBSCRIBE}?retCode=1", encoded.encode())
    assert numeric(response) == code
    assert row_counts()["recipients"] == 0


@pytest.mark.parametrize("name", ["dynsndname", "lang", "source", "ipAddress", "name", "Em%00ail"])
def test_nul_byte_in_ignored_or_cleaned_parameter(demo, raw, name):
    target = f"{SUBSCRIBE}?List=1&Email=clean%40example.com&Confirm=0&retCode=1&{name}=x%00y"
    assert numeric(raw.get(target)) == "0"
    assert status("clean@example.com") == Status.SUBSCRIBED


def test_nul_byte_in_ret_code_gives_text_answer(demo, raw):
    response = raw.get(f"{SUBSCRIBE}?List=1&Email=text%40example.com&Confirm=0&retCode=1%00")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"


NUL_IN_LOOKUP = [
    {"ListGuid": f"{LIST1_GUID}%00"},
    {"List": "1%00"},
    {"Email": "kept%40example.com%00"},
    {"Email": "%00"},
    {"Sms": "%00"},
]
NUL_IN_UPDATE = [{"Replace": "1%00"}, {"Group": "1%00"}, {"csvFldValues": "%00"}, {"csvFldNames": "campo1%00"}]


@pytest.mark.parametrize(
    "page, params",
    [(page, params) for page in (CHECK, UNSUBSCRIBE, UPDATE) for params in NUL_IN_LOOKUP]
    + [(UPDATE, params) for params in NUL_IN_UPDATE],
)
def test_nul_byte_in_other_xml_pages(subscriber, raw, page, params):
    values = {
        "ListGuid": LIST1_GUID,
        "List": "1",
        "Email": "kept%40example.com",
        "csvFldNames": "campo1",
        "csvFldValues": "Changed",
        **params,
    }
    before = row_counts()

    assert numeric(raw.get(f"{page}?{query(values.items())}")) == "1"
    assert row_counts() == before
    assert_subscriber_untouched()


@pytest.mark.parametrize(
    "name, value, code",
    [
        ("usr", "a1234%00", "-1001"),
        ("pwd", "x%00", "-1002"),
        ("ws_name", "FrontEnd%00", "-1006"),
        ("usr", "%00", "-1001"),
    ],
)
def test_nul_byte_in_activation(demo, raw, name, value, code):
    params = {"usr": "a1234", "pwd": quote(DEMO_WS_PASSWORD), "nl_url": "c1234.localhost", "ws_name": "FrontEnd"}
    params[name] = value
    response = raw.get(f"{ACTIVATION}?{query(params.items())}", source_ip="127.0.0.2")

    assert response.status == 200
    document = ElementTree.fromstring(response.body)
    assert document.findtext("mailupBody/ReturnCode") == code


@pytest.mark.parametrize("name", ["id", "idList", "idNL", "HASH"])
def test_nul_byte_in_optout_link(subscriber, raw, name):
    url = services.optout_url(subscriber, demo_list(1), 5)
    params = dict(parse_qsl(urlsplit(url).query))
    params[name] = "%00" if name == "HASH" else params[name] + "%00"

    target = f"/frontend/optout.aspx?{query(params.items())}"
    response = raw.request("POST", target, body=b"List-Unsubscribe=One-Click")
    assert response.status == 400
    assert_subscriber_untouched()


def test_nul_byte_in_subscribe_form(demo, raw):
    response = raw.post_form("/frontend/subscribe.aspx", b"email=a%00%40example.com&list=1&campo1=%00")
    assert response.status == 302
    assert response.headers["Location"].endswith("result=2")
    assert row_counts()["recipients"] == 0


# --- Huge values ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params, code",
    [
        ({"List": HUGE}, "1"),
        ({"List": f"1,{HUGE}"}, "1"),
        ({"List": "-" + HUGE}, "1"),
        ({"List": "2147483648"}, "1"),
        ({"List": "1" * 5000}, "1"),
        ({"List": "0000000001"}, "0"),
        ({"Group": HUGE}, "1"),
        ({"Group": "9" * 5000}, "1"),
        ({"ConfirmListID": HUGE}, "1"),
        ({"Sms": "0039" + "3" * 5000}, "2"),
        ({"Sms": HUGE}, "2"),
        ({"csvFldNames": "campo" + "1" * 5000, "csvFldValues": "x"}, "1"),
        ({"Confirm": HUGE}, "1"),
    ],
)
def test_huge_numbers(demo, http, params, code):
    response = http.post(SUBSCRIBE, data={"List": "1", "Email": "big@example.com", "retCode": "1", **params})
    assert response.status_code == 200
    assert response.text == code
    if code != "0":
        assert row_counts()["recipients"] == 0


@pytest.mark.parametrize("page", [CHECK, UNSUBSCRIBE, UPDATE])
def test_huge_list_id_on_other_pages(subscriber, http, page):
    for value in (HUGE, "1" * 5000, "4294967297"):
        response = http.get(page, params={"ListGuid": LIST1_GUID, "List": value, "Email": "kept@example.com"})
        assert response.text == "1"
    assert_subscriber_untouched()


def test_huge_ids_in_optout_link(demo, raw):
    for target in (
        f"/frontend/optout.aspx?id={HUGE}&idList=1&idNL=1&HASH=x",
        f"/frontend/optout.aspx?id=1&idList={'1' * 5000}&idNL=1&HASH=x",
        f"/frontend/optout.aspx?id=1&idList=1&idNL={HUGE}&HASH=x",
    ):
        assert raw.request("POST", target).status == 400


@pytest.mark.parametrize("host", [f"c{HUGE}.localhost", f"c{'1' * 5000}.localhost", "c-1.localhost", "c.localhost"])
def test_huge_console_id_in_host(demo, client_for, host):
    client = client_for(host)
    params = {"List": "1", "Email": "hosted@example.com", "Confirm": "0", "retCode": "1"}
    response = client.get(SUBSCRIBE, params=params)

    assert response.status_code == 200
    assert response.text == "0"
    assert status("hosted@example.com") == Status.SUBSCRIBED


# --- Large bodies ------------------------------------------------------------------------------


MEGABYTE = 1024 * 1024


@pytest.mark.parametrize(
    "name, value, code",
    [
        ("Email", "a" * MEGABYTE + "@example.com", "2"),
        ("Sms", "3" * MEGABYTE, "2"),
        ("csvFldValues", "v" * MEGABYTE, "1"),
        ("csvFldNames", "campo1;" * (MEGABYTE // 7), "1"),
        ("List", "1" * MEGABYTE, "1"),
        ("ListGuid", "f" * MEGABYTE, "1"),
        ("Dynsndmail", "d" * MEGABYTE, "1"),
    ],
)
def test_megabyte_value_rejected(demo, http, name, value, code):
    data = {"List": "1", "Email": "mega@example.com", "csvFldNames": "campo1", "csvFldValues": "x", "retCode": "1"}
    data[name] = value
    response = http.post(SUBSCRIBE, data=data)

    assert response.status_code == 200
    assert response.text == code
    assert row_counts()["recipients"] == 0


@pytest.mark.parametrize("name", ["dynsndname", "lang", "source"])
def test_megabyte_value_cleaned_or_ignored(demo, http, name):
    data = {"List": "1", "Email": "mega@example.com", "Confirm": "0", "retCode": "1", name: "n" * MEGABYTE}
    assert http.post(SUBSCRIBE, data=data).text == "0"
    assert status("mega@example.com") == Status.SUBSCRIBED


def test_megabyte_group_list(demo, http):
    groups = ",".join([str(group_id("Prospect"))] * (MEGABYTE // 8))
    data = {"List": "1", "Email": "groups@example.com", "Confirm": "0", "retCode": "1", "Group": groups}
    assert http.post(SUBSCRIBE, data=data).text == "0"
    assert group_names("groups@example.com") == ["Prospect"]


def over_limit():
    return "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)


def test_body_over_upload_limit_returns_1(demo, http):
    data = {"List": "1", "Email": "huge@example.com", "csvFldValues": over_limit()}
    response = http.post(f"{SUBSCRIBE}?retCode=1", data=data)
    assert response.status_code == 200
    assert response.text == "1"
    assert row_counts()["recipients"] == 0


def test_body_over_upload_limit_text_answer(demo, http):
    response = http.post(SUBSCRIBE, data={"List": "1", "Email": "huge@example.com", "pad": over_limit()})
    assert response.status_code == 200
    texts, _language = paragraphs(response.text)
    assert len(texts) == 1


def test_multipart_over_upload_limit_returns_1(demo, http):
    files = {"List": (None, "1"), "Email": (None, "huge@example.com"), "pad": (None, over_limit())}
    response = http.post(f"{SUBSCRIBE}?retCode=1", files=files)
    assert response.status_code == 200
    assert response.text == "1"
    assert row_counts()["recipients"] == 0


def test_multipart_file_part_ignored(demo, http):
    files = {"List": (None, "1"), "Email": (None, "file@example.com"), "upload": ("a.bin", b"\x00" * MEGABYTE)}
    response = http.post(f"{SUBSCRIBE}?retCode=1&Confirm=0", files=files)
    assert response.text == "0"
    assert status("file@example.com") == Status.SUBSCRIBED


def test_update_body_over_limit_changes_nothing(subscriber, http):
    data = {"ListGuid": LIST1_GUID, "List": "1", "Email": "kept@example.com", "csvFldNames": "campo1"}
    data["csvFldValues"] = over_limit()
    before = row_counts()

    assert http.post(UPDATE, data=data).text == "1"
    assert row_counts() == before
    assert_subscriber_untouched()


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("multipart/form-data", b"List=1&Email=a@example.com"),
        ("multipart/form-data; boundary=", b"--\r\n"),
        ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data\r\n\r\nno name\r\n--x--"),
        ("multipart/form-data; boundary=x", b"garbage without any boundary"),
        ("application/x-www-form-urlencoded", b"\xff\xfe\x00\x01"),
        ("application/json", b'{"List": 1, "Email": "json@example.com"}'),
        ("text/plain", b"List=1&Email=plain@example.com"),
    ],
)
def test_unreadable_or_foreign_body(demo, raw, content_type, body):
    response = raw.request("POST", f"{SUBSCRIBE}?retCode=1", body=body, headers={"Content-Type": content_type})
    assert numeric(response) == "1"
    assert row_counts()["recipients"] == 0


@pytest.mark.parametrize("charset", ["rot13", "base64", "hex"])
def test_binary_charset_in_content_type(production_raw, charset):
    headers = {"Content-Type": f"application/x-www-form-urlencoded; charset={charset}"}
    response = production_raw.request("POST", f"{SUBSCRIBE}?retCode=1", body=b"List=1&Email=a%40example.com", headers=headers)
    assert response.status == 200


def test_unknown_charset_in_content_type_ignored(demo, raw):
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=no-such-charset"}
    body = b"List=1&Email=cs%40example.com&Confirm=0"
    response = raw.request("POST", f"{SUBSCRIBE}?retCode=1", body=body, headers=headers)
    assert numeric(response) == "0"


@pytest.mark.parametrize("code", ["", "%00", "%ff%fe", HUGE, "x" * 60000, "a.b.c", "%"])
def test_bad_confirmation_code_returns_400(demo, raw, code):
    response = raw.get(f"/frontend/confirm.aspx?code={code}")
    assert response.status == 400
    assert len(paragraphs(response.text)[0]) == 1


def test_subscribe_form_body_over_limit(demo, http):
    data = {"email": "form@example.com", "list": "1", "pad": over_limit()}
    response = http.post("/frontend/subscribe.aspx", data=data, allow_redirects=False)
    assert response.status_code == 302
    assert response.headers["Location"] == "/frontend/subscriberesult.aspx?result=1"
    assert row_counts()["recipients"] == 0


# --- SQL and markup metacharacters ---------------------------------------------------------


@pytest.mark.parametrize(
    "params, code",
    [
        ({"Email": "x' OR '1'='1@example.com"}, "2"),
        ({"Email": "x'--@example.com"}, "0"),
        ({"Email": "\"; DROP TABLE lists_recipient; --\"@example.com"}, "2"),
        ({"Email": "<script>alert(1)</script>@example.com"}, "2"),
        ({"List": "1 OR 1=1"}, "1"),
        ({"List": "1; DELETE FROM lists_subscription"}, "1"),
        ({"List": "1) OR (1=1"}, "1"),
        ({"ListGuid": "' OR ''='"}, "1"),
        ({"Group": "1 UNION SELECT id FROM auth_user"}, "1"),
        ({"csvFldNames": "campo1", "csvFldValues": "'; DROP TABLE lists_list; --"}, "1"),
        ({"csvFldNames": "campo1 OR 1=1", "csvFldValues": "x"}, "1"),
        ({"Sms": "0039'333"}, "2"),
    ],
)
def test_sql_metacharacters(subscriber, http, params, code):
    before = row_counts()
    response = http.get(SUBSCRIBE, params={"List": "1", "Email": "meta@example.com", "retCode": "1", **params})

    assert response.text == code
    if code == "0":
        assert Recipient.objects.count() == before["recipients"] + 1
    else:
        assert row_counts() == before
    assert_subscriber_untouched()


def test_markup_stored_not_echoed(demo, http):
    value = "<script>alert('x')</script>\"'&"
    params = {
        "List": "1",
        "Email": "markup@example.com",
        "csvFldNames": "campo1",
        "csvFldValues": value,
        "lang": "<b>",
        "dynsndname": value,
    }
    response = http.get(SUBSCRIBE, params=params)

    texts, language = paragraphs(response.text)
    assert len(texts) == 1
    assert "<script>" not in response.text
    assert language == "it"
    assert recipient("markup@example.com").fields == {"1": value}


def test_long_accept_language(demo, http):
    headers = {"Accept-Language": ",".join(["xx-YY;q=0.1"] * 2000) + ",en"}
    response = http.get(SUBSCRIBE, params={"List": "1", "Email": "lang@example.com"}, headers=headers)
    assert response.status_code == 200
    assert len(paragraphs(response.text)[0]) == 1


# --- Thousands of group ids ------------------------------------------------------------------


def test_thousands_of_group_ids_on_subscribe(demo, http):
    demo_groups = [group_id("Clienti"), group_id("Prospect"), group_id("VIP")]
    groups = ",".join([str(number) for number in range(1, 20001)] + [str(number) for number in demo_groups])
    data = {"List": "1", "Email": "crowd@example.com", "Confirm": "0", "retCode": "1", "Group": groups}
    response = http.post(SUBSCRIBE, data=data)

    assert response.text == "0"
    assert group_names("crowd@example.com") == ["Clienti", "Prospect"]


@pytest.mark.parametrize("separator", [";", ","])
def test_thousands_of_group_ids_on_update(subscriber, http, separator):
    list_groups = {group_id("Clienti"), group_id("Prospect")}
    others = [str(number) for number in range(1, 20001) if number not in list_groups]
    groups = separator.join(others + [str(group_id("Prospect"))])
    data = {"ListGuid": LIST1_GUID, "List": "1", "Email": "kept@example.com", "Group": groups, "Replace": "1"}

    assert http.post(UPDATE, data=data).text == "0"
    assert group_names("kept@example.com") == ["Prospect"]


def test_thousands_of_group_ids_one_malformed(subscriber, http):
    groups = ",".join(str(number) for number in range(1, 5001)) + ",x"
    data = {"ListGuid": LIST1_GUID, "List": "1", "Email": "kept@example.com", "Group": groups, "Replace": "1"}
    before = row_counts()

    assert http.post(UPDATE, data=data).text == "1"
    assert row_counts() == before
    assert_subscriber_untouched()


# --- Partial changes ---------------------------------------------------------------------------


def test_invalid_confirm_list_writes_nothing(demo, http):
    params = {"List": "1,2", "Email": "partial@example.com", "ConfirmListID": "3", "retCode": "1"}
    response = http.get(SUBSCRIBE, params=params)
    assert response.text == "1"
    assert row_counts() == {"recipients": 0, "subscriptions": 0, "memberships": 0, "events": 0, "mails": 0}


def test_invalid_sms_writes_nothing(subscriber, http):
    before = row_counts()
    response = http.get(SUBSCRIBE, params={"List": "1", "Email": "kept@example.com", "Sms": "+39333", "retCode": "1"})

    assert response.text == "2"
    assert row_counts() == before
    assert recipient("kept@example.com").mobile_number is None
