"""The relay part of the demo console: the simulated ISPs, and later pools and rules."""

from sending.models import Isp

# Providers of the built-in DNS zone (dns_zone.MAIL_DOMAINS), recognised by
# domain and by MX host.
DEMO_ISPS = [
    {"key": "gmail", "name": "Gmail", "domains": ["gmail.test", "googlemail.test"], "mx_hosts": ["*.google.test"]},
    {
        "key": "outlook",
        "name": "Outlook",
        "domains": ["outlook.test", "hotmail.test", "live.test"],
        "mx_hosts": ["*.protection.outlook.test"],
    },
    {"key": "yahoo", "name": "Yahoo", "domains": ["yahoo.test"], "mx_hosts": ["*.yahoodns.test"]},
    {"key": "libero", "name": "Libero", "domains": ["libero.test", "iol.test"], "mx_hosts": ["*.libero.test"]},
]


def seed_relay():
    """Create or reset the demo ISPs."""
    for spec in DEMO_ISPS:
        values = {name: value for name, value in spec.items() if name != "key"}
        Isp.objects.update_or_create(key=spec["key"], defaults=values)
