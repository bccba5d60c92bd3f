"""ISO 3166-1 alpha-2 country codes with English names, for list settings and GET /Console/List/Countries.

The names come from phonenumbers, already a pinned dependency: its
locale table maps each region code to names taken from Java 8's Locale
data, so a few are older than ISO's current short names (Swaziland,
Macedonia). `_load_country_names` is the only place that reads the
source, so another one (pycountry, say) replaces that function alone.
"""

from functools import lru_cache

from phonenumbers.geodata.locale import LOCALE_DATA

# Codes of the source table that ISO 3166-1 no longer assigns: AN, the
# Netherlands Antilles, dissolved in 2010 into BQ, CW and SX.
WITHDRAWN_CODES = frozenset({"AN"})


@lru_cache(maxsize=1)
def country_names():
    """Return {code: English name} for every assigned code, in code order."""
    return dict(sorted(_load_country_names().items()))


def is_country_code(code):
    return isinstance(code, str) and code.upper() in country_names()


def _load_country_names():
    return {code: _english_name(names) for code, names in LOCALE_DATA.items() if code not in WITHDRAWN_CODES}


def _english_name(names):
    # A value "*xx" stands for the value under language xx.
    name = names["en"]
    while name.startswith("*"):
        name = names[name[1:]]
    return name
