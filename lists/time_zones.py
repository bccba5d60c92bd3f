"""MailUp's numbered time zones, each mapped to an IANA zone, for GET /Console/TimeZones.

MailUp publishes no table of its integer time-zone codes. mailup-sim
numbers them with Microsoft's time zone index values (110 is
"W. Europe Standard Time"), the integer codes of the Windows zones that
.NET platforms such as MailUp name, and names each zone by its Windows
id. The IANA zone of each entry is CLDR's mapping of that Windows id
(tests check it against the copy in tzlocal), so offsets follow the
installed tz database.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from functools import lru_cache
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class TimeZone:
    code: int
    # The Windows time zone id, such as "W. Europe Standard Time".
    name: str
    # Places in the zone, as Windows lists them after the offset.
    places: str
    iana: str

    def zone(self):
        return ZoneInfo(self.iana)

    def standard_offset(self, when=None):
        """Return the zone's offset from UTC without daylight saving time, at `when` (default now)."""
        local = (when or datetime.now(dt_timezone.utc)).astimezone(self.zone())
        return local.utcoffset() - (local.dst() or timedelta(0))


TIME_ZONES = (
    TimeZone(0, "Dateline Standard Time", "International Date Line West", "Etc/GMT+12"),
    TimeZone(1, "UTC-11", "Coordinated Universal Time-11", "Etc/GMT+11"),
    TimeZone(2, "Hawaiian Standard Time", "Hawaii", "Pacific/Honolulu"),
    TimeZone(3, "Alaskan Standard Time", "Alaska", "America/Anchorage"),
    TimeZone(4, "Pacific Standard Time", "Pacific Time (US & Canada)", "America/Los_Angeles"),
    TimeZone(10, "Mountain Standard Time", "Mountain Time (US & Canada)", "America/Denver"),
    TimeZone(13, "Mountain Standard Time (Mexico)", "La Paz, Mazatlan", "America/Mazatlan"),
    TimeZone(15, "US Mountain Standard Time", "Arizona", "America/Phoenix"),
    TimeZone(20, "Central Standard Time", "Central Time (US & Canada)", "America/Chicago"),
    TimeZone(25, "Canada Central Standard Time", "Saskatchewan", "America/Regina"),
    TimeZone(30, "Central Standard Time (Mexico)", "Guadalajara, Mexico City, Monterrey", "America/Mexico_City"),
    TimeZone(33, "Central America Standard Time", "Central America", "America/Guatemala"),
    TimeZone(35, "Eastern Standard Time", "Eastern Time (US & Canada)", "America/New_York"),
    TimeZone(40, "US Eastern Standard Time", "Indiana (East)", "America/Indiana/Indianapolis"),
    TimeZone(45, "SA Pacific Standard Time", "Bogota, Lima, Quito, Rio Branco", "America/Bogota"),
    TimeZone(50, "Atlantic Standard Time", "Atlantic Time (Canada)", "America/Halifax"),
    TimeZone(55, "SA Western Standard Time", "Georgetown, La Paz, Manaus, San Juan", "America/La_Paz"),
    TimeZone(56, "Pacific SA Standard Time", "Santiago", "America/Santiago"),
    TimeZone(60, "Newfoundland Standard Time", "Newfoundland", "America/St_Johns"),
    TimeZone(65, "E. South America Standard Time", "Brasilia", "America/Sao_Paulo"),
    TimeZone(70, "SA Eastern Standard Time", "Cayenne, Fortaleza", "America/Cayenne"),
    TimeZone(73, "Greenland Standard Time", "Greenland", "America/Nuuk"),
    TimeZone(75, "UTC-02", "Coordinated Universal Time-02", "Etc/GMT+2"),
    TimeZone(80, "Azores Standard Time", "Azores", "Atlantic/Azores"),
    TimeZone(83, "Cape Verde Standard Time", "Cabo Verde Is.", "Atlantic/Cape_Verde"),
    TimeZone(85, "GMT Standard Time", "Dublin, Edinburgh, Lisbon, London", "Europe/London"),
    TimeZone(90, "Greenwich Standard Time", "Monrovia, Reykjavik", "Atlantic/Reykjavik"),
    TimeZone(95, "Central Europe Standard Time", "Belgrade, Bratislava, Budapest, Ljubljana, Prague", "Europe/Budapest"),
    TimeZone(100, "Central European Standard Time", "Sarajevo, Skopje, Warsaw, Zagreb", "Europe/Warsaw"),
    TimeZone(105, "Romance Standard Time", "Brussels, Copenhagen, Madrid, Paris", "Europe/Paris"),
    TimeZone(110, "W. Europe Standard Time", "Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna", "Europe/Rome"),
    TimeZone(113, "W. Central Africa Standard Time", "West Central Africa", "Africa/Lagos"),
    TimeZone(115, "E. Europe Standard Time", "Chisinau", "Europe/Chisinau"),
    TimeZone(120, "Egypt Standard Time", "Cairo", "Africa/Cairo"),
    TimeZone(125, "FLE Standard Time", "Helsinki, Kyiv, Riga, Sofia, Tallinn, Vilnius", "Europe/Kyiv"),
    TimeZone(130, "GTB Standard Time", "Athens, Bucharest", "Europe/Bucharest"),
    TimeZone(135, "Israel Standard Time", "Jerusalem", "Asia/Jerusalem"),
    TimeZone(140, "South Africa Standard Time", "Harare, Pretoria", "Africa/Johannesburg"),
    TimeZone(145, "Russian Standard Time", "Moscow, St. Petersburg", "Europe/Moscow"),
    TimeZone(150, "Arab Standard Time", "Kuwait, Riyadh", "Asia/Riyadh"),
    TimeZone(155, "E. Africa Standard Time", "Nairobi", "Africa/Nairobi"),
    TimeZone(158, "Arabic Standard Time", "Baghdad", "Asia/Baghdad"),
    TimeZone(160, "Iran Standard Time", "Tehran", "Asia/Tehran"),
    TimeZone(165, "Arabian Standard Time", "Abu Dhabi, Muscat", "Asia/Dubai"),
    TimeZone(170, "Caucasus Standard Time", "Yerevan", "Asia/Yerevan"),
    TimeZone(175, "Afghanistan Standard Time", "Kabul", "Asia/Kabul"),
    TimeZone(180, "Ekaterinburg Standard Time", "Ekaterinburg", "Asia/Yekaterinburg"),
    TimeZone(185, "West Asia Standard Time", "Ashgabat, Tashkent", "Asia/Tashkent"),
    TimeZone(190, "India Standard Time", "Chennai, Kolkata, Mumbai, New Delhi", "Asia/Kolkata"),
    TimeZone(193, "Nepal Standard Time", "Kathmandu", "Asia/Kathmandu"),
    TimeZone(195, "Central Asia Standard Time", "Bishkek", "Asia/Bishkek"),
    TimeZone(200, "Sri Lanka Standard Time", "Sri Jayawardenepura", "Asia/Colombo"),
    TimeZone(201, "N. Central Asia Standard Time", "Novosibirsk", "Asia/Novosibirsk"),
    TimeZone(203, "Myanmar Standard Time", "Yangon (Rangoon)", "Asia/Yangon"),
    TimeZone(205, "SE Asia Standard Time", "Bangkok, Hanoi, Jakarta", "Asia/Bangkok"),
    TimeZone(207, "North Asia Standard Time", "Krasnoyarsk", "Asia/Krasnoyarsk"),
    TimeZone(210, "China Standard Time", "Beijing, Chongqing, Hong Kong, Urumqi", "Asia/Shanghai"),
    TimeZone(215, "Singapore Standard Time", "Kuala Lumpur, Singapore", "Asia/Singapore"),
    TimeZone(220, "Taipei Standard Time", "Taipei", "Asia/Taipei"),
    TimeZone(225, "W. Australia Standard Time", "Perth", "Australia/Perth"),
    TimeZone(227, "North Asia East Standard Time", "Irkutsk", "Asia/Irkutsk"),
    TimeZone(230, "Korea Standard Time", "Seoul", "Asia/Seoul"),
    TimeZone(235, "Tokyo Standard Time", "Osaka, Sapporo, Tokyo", "Asia/Tokyo"),
    TimeZone(240, "Yakutsk Standard Time", "Yakutsk", "Asia/Yakutsk"),
    TimeZone(245, "AUS Central Standard Time", "Darwin", "Australia/Darwin"),
    TimeZone(250, "Cen. Australia Standard Time", "Adelaide", "Australia/Adelaide"),
    TimeZone(255, "AUS Eastern Standard Time", "Canberra, Melbourne, Sydney", "Australia/Sydney"),
    TimeZone(260, "E. Australia Standard Time", "Brisbane", "Australia/Brisbane"),
    TimeZone(265, "Tasmania Standard Time", "Hobart", "Australia/Hobart"),
    TimeZone(270, "Vladivostok Standard Time", "Vladivostok", "Asia/Vladivostok"),
    TimeZone(275, "West Pacific Standard Time", "Guam, Port Moresby", "Pacific/Port_Moresby"),
    TimeZone(280, "Central Pacific Standard Time", "Solomon Is., New Caledonia", "Pacific/Guadalcanal"),
    TimeZone(285, "Fiji Standard Time", "Fiji", "Pacific/Fiji"),
    TimeZone(290, "New Zealand Standard Time", "Auckland, Wellington", "Pacific/Auckland"),
    TimeZone(300, "Tonga Standard Time", "Nuku'alofa", "Pacific/Tongatapu"),
)


@lru_cache(maxsize=1)
def time_zones_by_code():
    return {time_zone.code: time_zone for time_zone in TIME_ZONES}


def find_time_zone(code):
    """Return the TimeZone with this integer code, or None."""
    if isinstance(code, bool) or not isinstance(code, int):
        return None
    return time_zones_by_code().get(code)


def format_offset(offset):
    """Write an offset as .NET writes a TimeSpan: 01:00:00, -05:00:00, 05:30:00."""
    sign = "-" if offset < timedelta(0) else ""
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}:00"


def describe(time_zone, when=None):
    """Return the zone's entry of GET /Console/TimeZones, with its standard offset at `when`."""
    offset = format_offset(time_zone.standard_offset(when))
    utc_label = offset[:-3] if offset.startswith("-") else f"+{offset[:-3]}"
    return {
        "OffsetFromUTC": offset,
        "TimeZoneCode": time_zone.code,
        "TimeZoneDescription": f"(UTC{utc_label}) {time_zone.places}",
        "TimeZoneName": time_zone.name,
    }
