"""ConsoleService reference tables: GET /Console/List/Countries and GET /Console/TimeZones."""

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from zoneinfo import ZoneInfo

import pytest
from tzlocal.windows_tz import win_tz

from lists.countries import country_names
from lists.models import List
from lists.time_zones import TIME_ZONES, describe, find_time_zone, format_offset
from tests.rest.conftest import assert_envelope

LIST_SETTINGS = {"Name": "Eventi", "OwnerEmail": "eventi@demo.example"}


def test_countries_in_code_order(api):
    response = api.get("/List/Countries")

    assert response.status_code == 200
    countries = response.json()
    codes = [country["CountryCode"] for country in countries]
    assert codes == sorted(codes)
    assert len(codes) == len(set(codes))
    assert {"CountryCode": "IT", "CountryName": "Italy"} in countries
    assert {"CountryCode": "US", "CountryName": "United States"} in countries
    assert all(set(country) == {"CountryCode", "CountryName"} for country in countries)


def test_countries_leave_out_withdrawn_codes(api):
    codes = {country["CountryCode"] for country in api.get("/List/Countries").json()}

    # AN, the Netherlands Antilles, was split into BQ, CW and SX in 2010.
    assert "AN" not in codes
    assert {"BQ", "CW", "SX"} <= codes
    assert len(codes) == 249


def test_countries_path_ignores_case(api):
    assert api.get("/list/COUNTRIES").json() == api.get("/List/Countries").json()


def test_countries_post_is_405(api):
    assert_envelope(api.post("/List/Countries", json={}), 405, "MethodNotAllowed")


def test_countries_without_token_is_401(http, demo):
    response = http.get("/API/v1.1/Rest/ConsoleService.svc/Console/List/Countries")

    assert_envelope(response, 401, "Unauthorized")


def test_list_settings_country_code_checked(api):
    assert_envelope(api.post("/List", json={**LIST_SETTINGS, "CountryCode": "XX"}), 400, "BadRequest")
    assert_envelope(api.post("/List", json={**LIST_SETTINGS, "CountryCode": 39}), 400, "BadRequest")
    assert List.objects.count() == 2

    list_id = api.post("/List", json={**LIST_SETTINGS, "CountryCode": "it"}).json()
    assert List.objects.get(account__console_id=1234, list_id=list_id).extra_settings["CountryCode"] == "IT"
    assert api.post("/List", json={**LIST_SETTINGS, "CountryCode": None}).status_code == 200
    assert api.post("/List", json={**LIST_SETTINGS, "CountryCode": ""}).status_code == 200


def test_time_zones_in_code_order(api):
    response = api.get("/TimeZones")

    assert response.status_code == 200
    zones = response.json()
    codes = [zone["TimeZoneCode"] for zone in zones]
    assert codes == sorted(codes)
    assert len(codes) == len(set(codes)) == len(TIME_ZONES)
    assert all(set(zone) == {"OffsetFromUTC", "TimeZoneCode", "TimeZoneDescription", "TimeZoneName"} for zone in zones)


def test_time_zones_give_standard_offsets(api):
    zones = {zone["TimeZoneName"]: zone for zone in api.get("/TimeZones").json()}

    assert zones["W. Europe Standard Time"] == {
        "OffsetFromUTC": "01:00:00",
        "TimeZoneCode": 110,
        "TimeZoneDescription": "(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna",
        "TimeZoneName": "W. Europe Standard Time",
    }
    # Clients look a zone up by this string, as .NET writes a TimeSpan.
    assert zones["Eastern Standard Time"]["OffsetFromUTC"] == "-05:00:00"
    assert zones["India Standard Time"]["OffsetFromUTC"] == "05:30:00"
    assert zones["GMT Standard Time"]["TimeZoneDescription"].startswith("(UTC+00:00) ")


def test_time_zones_path_ignores_case(api):
    assert api.get("/timezones").status_code == 200


def test_time_zones_without_token_is_401(http, demo):
    response = http.get("/API/v1.1/Rest/ConsoleService.svc/Console/TimeZones")

    assert_envelope(response, 401, "Unauthorized")


@pytest.mark.parametrize("time_zone", TIME_ZONES, ids=lambda time_zone: time_zone.name)
def test_time_zone_matches_cldr_mapping(time_zone):
    """Each Windows id maps to an IANA zone with the same offsets as CLDR's zone for it."""
    cldr_zone = ZoneInfo(win_tz[time_zone.name])
    for month in (1, 7):
        moment = datetime(2026, month, 15, 12, tzinfo=dt_timezone.utc)
        assert moment.astimezone(time_zone.zone()).utcoffset() == moment.astimezone(cldr_zone).utcoffset()


def test_standard_offset_ignores_summer_time():
    rome = find_time_zone(110)
    summer = datetime(2026, 7, 1, tzinfo=dt_timezone.utc)

    assert rome.standard_offset(summer) == timedelta(hours=1)
    assert describe(rome, summer)["OffsetFromUTC"] == "01:00:00"
    assert find_time_zone(55).standard_offset(summer) == timedelta(hours=-4)


def test_find_time_zone_rejects_other_values():
    assert find_time_zone(110).iana == "Europe/Rome"
    assert find_time_zone(111) is None
    assert find_time_zone("110") is None
    assert find_time_zone(True) is None


@pytest.mark.parametrize(
    "offset, text",
    [
        (timedelta(0), "00:00:00"),
        (timedelta(hours=-3, minutes=-30), "-03:30:00"),
        (timedelta(hours=5, minutes=45), "05:45:00"),
        (timedelta(hours=13), "13:00:00"),
    ],
)
def test_format_offset_as_timespan(offset, text):
    assert format_offset(offset) == text


def test_country_names_cover_iso_codes():
    names = country_names()

    assert names["DE"] == "Germany"
    assert names["KR"] == "South Korea"
    assert all(len(code) == 2 and code.isupper() for code in names)
    assert all(name and not name.startswith("*") for name in names.values())
