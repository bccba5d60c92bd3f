"""The sink inspection API responds only in JSON, in English, whatever the format parameter, Accept header or language."""

import pytest

LISTINGS = [
    "/sink/api/messages",
    "/sink/api/sms",
    "/sink/api/rules",
    "/sink/api/inbound",
    "/sink/api/webhooks",
    "/sink/api/ftp",
]


@pytest.mark.parametrize("path", LISTINGS)
@pytest.mark.parametrize("requested", ["api", "xml", "html", "yaml"])
def test_other_format_returns_json_400(db, client, path, requested):
    response = client.get(path, {"format": requested})

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert "format" in error
    assert repr(requested) in error


@pytest.mark.parametrize("path", LISTINGS)
@pytest.mark.parametrize("requested", ["json", "JSON", ""])
def test_json_format_accepted(db, client, path, requested):
    response = client.get(path, {"format": requested})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "text/html,application/xhtml+xml,*/*;q=0.8"])
def test_any_accept_header_gets_json(db, client, accept):
    response = client.get("/sink/api/messages", headers={"Accept": accept})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json()["messages"] == []


def test_no_browsable_api_page(db, client):
    response = client.get("/sink/api/rules", {"format": "api"}, headers={"Accept": "text/html"})

    assert response["Content-Type"] == "application/json"
    assert b"<html" not in response.content.lower()


def test_drf_messages_in_english(db, client):
    response = client.put("/sink/api/rules", "{}", content_type="application/json", headers={"Accept-Language": "it"})

    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "PUT" not allowed.'}


@pytest.mark.parametrize("path", ["/sink/api/nothing", "/sink/api/messages.json", "/sink/api/messages/999999/raw"])
def test_unknown_resource_returns_json_404(db, client, path):
    response = client.get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"]


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("application/x-www-form-urlencoded", "pattern=example.com&behaviour=reject"),
        ("multipart/form-data; boundary=b", '--b\r\nContent-Disposition: form-data; name="pattern"\r\n\r\nexample.com\r\n--b--\r\n'),
        ("text/plain", '{"pattern": "example.com", "behaviour": "reject"}'),
    ],
)
def test_form_body_gets_415(db, client, content_type, body):
    """A body that a web page can post without a CORS preflight changes nothing."""
    from sending.models import SinkRule

    response = client.post("/sink/api/rules", body, content_type=content_type)

    assert response.status_code == 415
    assert response["Content-Type"] == "application/json"
    assert content_type.split(";")[0] in response.json()["detail"]
    assert not SinkRule.objects.exists()
