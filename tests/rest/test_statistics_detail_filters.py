"""MailStatisticsService: filterby on every property of the per-recipient list items, Notes, Type and Url included."""

from urllib.parse import quote

from tests.rest.conftest import assert_envelope
from tests.rest.test_statistics_service import STATISTICS, sent, stat  # noqa: F401  (sent is a fixture)


def items(api, path, expression):
    return stat(api, f"{path}?filterby={quote(expression)}")["Items"]


def test_bounce_details_filter_by_type(api, sent):
    path = f"/Recipient/{sent['bruno'].pk}/List/BouncesDetails"
    assert [item["Type"] for item in items(api, path, "Type=='hard_bounce'")] == ["hard_bounce"]
    assert items(api, path, "Type=='soft_bounce'") == []


def test_click_details_filter_by_url(api, sent):
    path = f"/Recipient/{sent['anna'].pk}/List/ClicksDetails"
    assert [item["Url"] for item in items(api, path, "Url.Contains('shop.example')")] == ["https://shop.example/"]
    assert items(api, path, "Url=='https://other.example/'") == []


def test_deliveries_filter_by_notes(api, sent):
    path = f"/Recipient/{sent['anna'].pk}/List/Deliveries"
    assert [item["IdMessage"] for item in items(api, path, "Notes==''")] == [sent["message"].pk]
    assert items(api, path, "Notes=='other'") == []


def test_detail_property_of_other_list_is_400(api, sent):
    headers = {"Authorization": f"Bearer {api.access_token}"}
    for kind, expression in (("BouncesDetails", "Url=='x'"), ("ClicksDetails", "Type=='x'"), ("Deliveries", "Type=='x'")):
        path = f"{STATISTICS}/Recipient/{sent['anna'].pk}/List/{kind}?filterby={quote(expression)}"
        assert_envelope(api.http.get(path, headers=headers), 400, "BadRequest")
