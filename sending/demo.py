"""The relay part of the demo console: the simulated ISPs, two IP pools, a warm-up and ISP rules."""

from django.db import transaction
from django.utils import timezone

from sending import services
from sending.models import IpPool, Isp, IspRule, WarmupSchedule

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
DEMO_POOLS = {
    "shared": ("Warm addresses for every ISP", ["127.0.0.10", "127.0.0.11", "127.0.0.12", "127.0.0.13"]),
    "new-ips": ("Addresses in warm-up", ["127.0.0.20", "127.0.0.21"]),
}
# A common ramp: 50 messages per hour per address on day 1, doubling
# roughly every day until the schedule ends on day 8.
DEMO_WARMUP = ("Eight-day ramp", [50, 100, 200, 400, 800, 1500, 3000, 5000])


@transaction.atomic
def seed_relay():
    """Create or reset the demo ISPs, pools, warm-up schedule and rules; they stay under the sink's default limits."""
    isps = {}
    for spec in DEMO_ISPS:
        values = {name: value for name, value in spec.items() if name != "key"}
        isps[spec["key"]], _ = Isp.objects.update_or_create(key=spec["key"], defaults=values)

    # Only the demo's own pools, rules and schedule are replaced.
    IspRule.objects.filter(pool__name__in=DEMO_POOLS).delete()
    IpPool.objects.filter(name__in=DEMO_POOLS).delete()
    WarmupSchedule.objects.filter(name=DEMO_WARMUP[0], rules__isnull=True).delete()
    pools = {name: services.create_ip_pool(name, addresses, description) for name, (description, addresses) in DEMO_POOLS.items()}
    warmup = WarmupSchedule.objects.filter(name=DEMO_WARMUP[0]).first() or services.create_warmup_schedule(*DEMO_WARMUP)

    services.create_isp_rule(
        "Gmail from the new addresses, in warm-up",
        pools["new-ips"],
        isps["gmail"],
        warmup=warmup,
        warmup_started_on=timezone.localdate(),
        max_connections=5,
        max_per_connection=100,
    )
    services.create_isp_rule("Outlook", pools["shared"], isps["outlook"], max_per_hour=1500, max_connections=3, max_per_connection=40)
    services.create_isp_rule("Yahoo", pools["shared"], isps["yahoo"], max_per_hour=1500, max_connections=3, max_per_connection=40)
    services.create_isp_rule("Libero by day", pools["shared"], isps["libero"], hour_from=8, hour_until=20, max_per_hour=500, max_connections=2, max_per_connection=20)
    services.create_isp_rule("Libero by night", pools["shared"], isps["libero"], hour_from=20, hour_until=8, max_per_hour=900, max_connections=2, max_per_connection=20)
