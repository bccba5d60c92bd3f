"""filterby and orderby: a real parser that builds queries and rejects everything else."""

from urllib.parse import quote_plus

import pytest
from django.db.models import Q

from mailup_sim.filterby import FilterError, Property, parse_filter, parse_orderby
from tests.rest.conftest import assert_envelope

PROPERTIES = {
    "email": Property("email", casefold=True),
    "idrecipient": Property("pk", "int"),
    "name": Property("name"),
}


def test_equality_lowercases_email():
    assert parse_filter("Email=='Mario@Example.com'", PROPERTIES) == Q(email__exact="mario@example.com")


def test_literal_on_the_left_is_flipped():
    assert parse_filter("5 < idRecipient", PROPERTIES) == Q(pk__gt=5)


def test_quotes_brackets_and_qualifier_are_stripped():
    expected = Q(email__contains="rossi")
    assert parse_filter("\"recipient.Email.Contains('rossi')\"", PROPERTIES) == expected
    assert parse_filter("[Email.contains('rossi')]", PROPERTIES) == expected


def test_and_or_and_brackets():
    query = parse_filter("(idRecipient==1 || idRecipient==2) && Name!='x'", PROPERTIES)
    assert query == ((Q(pk__exact=1) | Q(pk__exact=2)) & ~Q(name="x"))


def test_doubled_quote_inside_string():
    assert parse_filter("Name=='O''Brien'", PROPERTIES) == Q(name__exact="O'Brien")


def test_null_comparison():
    assert parse_filter("Name==null", PROPERTIES) == Q(name__isnull=True)


@pytest.mark.parametrize(
    "expression",
    [
        "Email=='a'; DROP TABLE lists_recipient",
        "__import__('os').system('id')",
        "Email=='a' || 1==1",
        "Email==Name",
        'Email=="a"',
        "Email=='a' -- comment",
        "Email.__class__('a')",
        "Email.Contains(Name)",
        "Email.Delete('a')",
        "Colour=='red'",
        "idRecipient=='abc'",
        "idRecipient==99999999999999999999999",
        "idRecipient=='sNaN'",
        "idRecipient=='1e999999999999'",
        "idRecipient=='Infinity'",
        "Email=='unterminated",
        "(Email=='a'",
        "Email=='a')",
        "Email >",
        "Email=='a' && ",
    ],
)
def test_rejected_expressions(expression):
    with pytest.raises(FilterError):
        parse_filter(expression, PROPERTIES)


def test_orderby_keys_and_directions():
    assert parse_orderby("Name asc;idRecipient desc", PROPERTIES) == ["name", "-pk"]
    assert parse_orderby('"Email desc"', PROPERTIES) == ["-email", "pk"]
    assert parse_orderby("", PROPERTIES) == ["pk"]


@pytest.mark.parametrize("orderby", ["Colour", "Name sideways", "Name asc desc"])
def test_orderby_rejected(orderby):
    with pytest.raises(FilterError):
        parse_orderby(orderby, PROPERTIES)


@pytest.fixture
def three_recipients(api):
    ids = []
    for email in ("mario.rossi@example.com", "anna.bianchi@example.com", "luca.rossi@example.org"):
        response = api.post("/List/1/Recipient", json={"Email": email, "Name": "", "Fields": []})
        assert response.status_code == 200, response.text
        ids.append(response.json())
    return ids


def subscribed_emails(api, query):
    response = api.get("/List/1/Recipients/Subscribed?" + query)
    assert response.status_code == 200, response.text
    return [item["Email"] for item in response.json()["Items"]]


def test_mailupy_email_filter_ignores_case(api, three_recipients):
    query = "filterby=" + quote_plus("Email=='Mario.Rossi@Example.com'")
    assert subscribed_emails(api, query) == ["mario.rossi@example.com"]


def test_contains_with_quotes_and_order(api, three_recipients):
    query = "filterby=" + quote_plus("\"Email.Contains('rossi')\"") + "&orderby=" + quote_plus("Email desc")
    assert subscribed_emails(api, query) == ["mario.rossi@example.com", "luca.rossi@example.org"]


def test_unencoded_contains(api, three_recipients):
    # The PHP wrappers put the address into the URL without encoding it.
    assert subscribed_emails(api, "filterby=\"Email.Contains('example.org')\"") == ["luca.rossi@example.org"]


def test_filter_counts_before_paging(api, three_recipients):
    query = "filterby=" + quote_plus("Email.Contains('rossi')") + "&pageSize=1&pageNumber=1"
    body = api.get("/List/1/Recipients/Subscribed?" + query).json()
    assert body["TotalElementsCount"] == 2
    assert [item["Email"] for item in body["Items"]] == ["luca.rossi@example.org"]


@pytest.mark.parametrize(
    "expression",
    [
        "Email=='a' OR 1=1",
        "Email=='x'; DELETE FROM lists_recipient",
        "exec('import os')",
        "Email==\"x\"",
        "idRecipient=='sNaN'",
        "idRecipient=='1e999999999999'",
    ],
)
def test_injection_over_http_is_400(api, three_recipients, expression):
    response = api.get("/List/1/Recipients/Subscribed?filterby=" + quote_plus(expression))
    assert_envelope(response, 400, "BadRequest")
    assert len(subscribed_emails(api, "")) == 3


def test_fields_filter_and_order(api):
    for email, name in (("a@example.com", "Mario"), ("b@example.com", "Maria"), ("c@example.com", "Luca")):
        body = {"Email": email, "Fields": [{"Id": 1, "Value": name}, {"Id": 3, "Value": "ACME " + name}]}
        assert api.post("/List/1/Recipient", json=body).status_code == 200

    assert subscribed_emails(api, "filterby=" + quote_plus("Fields['nome']=='Luca'")) == ["c@example.com"]
    query = "filterby=" + quote_plus("recipient.Fields['Nome'].StartsWith('Mari')") + "&orderby=" + quote_plus(
        "Fields['nome'] asc"
    )
    assert subscribed_emails(api, query) == ["b@example.com", "a@example.com"]
    assert subscribed_emails(api, "filterby=" + quote_plus("Fields['azienda'].Contains('ACME L')")) == [
        "c@example.com"
    ]


def test_unknown_field_is_400(api):
    response = api.get("/List/1/Recipients/Subscribed?filterby=" + quote_plus("Fields['colour']=='red'"))
    body = assert_envelope(response, 400, "BadRequest")
    assert "colour" in body["ErrorDescription"]


def test_parse_fields_member():
    properties = {**PROPERTIES, "fields[nome]": Property("field_1")}
    assert parse_filter("Fields['NOME']=='x'", properties) == Q(field_1__exact="x")
    assert parse_orderby("recipient.Fields['nome'] desc", properties) == ["-field_1", "pk"]
