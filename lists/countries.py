"""ISO 3166-1 alpha-2 country codes with English names, for list settings and GET /Console/List/Countries.

The codes and names come from pycountry, which carries the ISO 3166-1
table. Where ISO's name is a long form ("Korea, Republic of"), the
short common name that pycountry also carries ("South Korea") is used,
as a country picker shows it.
"""

from functools import lru_cache

import pycountry


@lru_cache(maxsize=1)
def country_names():
    """Return {code: English name} for every assigned code, in code order."""
    names = {country.alpha_2: getattr(country, "common_name", country.name) for country in pycountry.countries}
    return dict(sorted(names.items()))


def is_country_code(code):
    return isinstance(code, str) and code.upper() in country_names()
