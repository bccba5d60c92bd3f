"""The built-in DNS zone of the simulated internet.

It publishes each account's DKIM public keys as TXT records at
`<selector>._domainkey.<domain>` for every sender domain of the account's
lists, which is the domain the platform signs with, the platform's own
keys at the same names under the domain of PLATFORM_MAIL_FROM, and the MX records of
the simulated mailbox providers' domains, by which the relay recognises
an ISP. The sink and the relay resolve names here and never query a real
DNS server.
"""

import threading
import time

import dns.exception
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.zone
from dns.rdtypes.ANY.MX import MX
from django.db.models import Count, Max
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from dns.rdtypes.ANY.TXT import TXT

from lists.models import List
from sending.dkim_signing import dns_record, platform_domain
from sending.models import DkimKey

# A built zone is reused for this many seconds while the set of keys stays
# the same. A name the zone lacks rebuilds it at once. A list sender address
# changed by another process is published after this time.
ZONE_TTL_SECONDS = 5
# How often the set of keys is compared with the zone's. The comparison is
# a query, and the sink resolves a key for every signature it verifies, so
# a new or replaced key made by another process is published within this
# time. This process publishes its own keys and lists at once, through the
# signal handler below.
KEY_CHECK_SECONDS = 1.0
RECORD_TTL = 300
# A TXT record is a list of strings of at most 255 bytes each (RFC 1035).
TXT_STRING_BYTES = 255

# Mail domains of the simulated mailbox providers and their MX host. A
# company domain hosted by a provider (acme.test at Outlook) is recognised
# only through its MX, as on the real internet.
MAIL_DOMAINS = {
    "gmail.test": "gmail-smtp-in.l.google.test",
    "googlemail.test": "gmail-smtp-in.l.google.test",
    "outlook.test": "outlook-com.olc.protection.outlook.test",
    "hotmail.test": "hotmail-com.olc.protection.outlook.test",
    "live.test": "live-com.olc.protection.outlook.test",
    "acme.test": "acme-test.mail.protection.outlook.test",
    "yahoo.test": "mta5.am0.yahoodns.test",
    "libero.test": "mx.libero.test",
    "iol.test": "mx.libero.test",
    "virgilio.test": "mx.virgilio.test",
    "tiscali.test": "mx.tiscali.test",
    "aruba.test": "mx.aruba.test",
}

_cache = {"zone": None, "built_at": 0.0, "keys": None, "checked_at": 0.0}
_lock = threading.Lock()
# {id(zone): (zone, {name: TXT record or None})} for the zone in use.
_answers = {}


def build_zone():
    """Return a dnspython zone at the root holding every published DKIM key."""
    zone = dns.zone.Zone(dns.name.root, relativize=False)
    domains_by_account = {}
    for account_id, sender_email in List.objects.values_list("account_id", "sender_email"):
        domains_by_account.setdefault(account_id, set()).add(sender_email.rpartition("@")[2].lower())

    for key in DkimKey.objects.all():
        # A key without an account is the platform's and signs for one domain.
        domains = [platform_domain()] if key.account_id is None else sorted(domains_by_account.get(key.account_id, ()))
        for domain in domains:
            name = dns.name.from_text(f"{key.selector}._domainkey.{domain}")
            rdataset = zone.find_rdataset(name, dns.rdatatype.TXT, create=True)
            rdataset.add(_txt_rdata(dns_record(key)), ttl=RECORD_TTL)
    _add_mail_domains(zone)
    return zone


def _add_mail_domains(zone):
    for domain, host in MAIL_DOMAINS.items():
        rdataset = zone.find_rdataset(dns.name.from_text(domain), dns.rdatatype.MX, create=True)
        rdataset.add(MX(dns.rdataclass.IN, dns.rdatatype.MX, 10, dns.name.from_text(host)), ttl=RECORD_TTL)


def resolve_mx(domain):
    """Return the MX host names of `domain`, most preferred first, lower-case without the final dot."""
    try:
        name = dns.name.from_text(domain)
    except dns.exception.DNSException:
        return []
    rdataset = _zone().get_rdataset(name, dns.rdatatype.MX)
    if not rdataset:
        return []
    records = sorted(rdataset, key=lambda record: record.preference)
    return [record.exchange.to_text(omit_final_dot=True).lower() for record in records]


def _txt_rdata(text):
    data = text.encode("ascii")
    strings = [data[start : start + TXT_STRING_BYTES] for start in range(0, len(data), TXT_STRING_BYTES)]
    return TXT(dns.rdataclass.IN, dns.rdatatype.TXT, strings)


def resolve_txt(name):
    """Return the first TXT record of `name` (str or bytes) as one byte string, or None when there is none."""
    if isinstance(name, bytes):
        name = name.decode("ascii", "replace")
    record = _cached_txt(_zone(), name)
    if record is None:
        record = _cached_txt(_zone(rebuild=True), name)
    return record


def _cached_txt(zone, name):
    # Answers are kept with the zone they came from, because the sink asks
    # for the same few keys on every message, and parsing the name and
    # looking it up in dnspython cost it more than the signature check.
    answers = _answers.get(id(zone))
    if answers is None or answers[0] is not zone:
        _answers.clear()
        answers = _answers[id(zone)] = (zone, {})
    key = name.lower()
    if key not in answers[1]:
        answers[1][key] = _find_txt(zone, name)
    return answers[1][key]


def _find_txt(zone, name):
    try:
        absolute = dns.name.from_text(name)
    except dns.exception.DNSException:
        return None
    rdataset = zone.get_rdataset(absolute, dns.rdatatype.TXT)
    if not rdataset:
        return None
    return b"".join(next(iter(rdataset)).strings)


def _zone(rebuild=False):
    with _lock:
        now = time.monotonic()
        fresh = _cache["zone"] is not None and now - _cache["built_at"] <= ZONE_TTL_SECONDS
        if fresh and not rebuild and now - _cache["checked_at"] <= KEY_CHECK_SECONDS:
            return _cache["zone"]
    keys = _key_fingerprint()
    with _lock:
        now = time.monotonic()
        _cache["checked_at"] = now
        stale = now - _cache["built_at"] > ZONE_TTL_SECONDS or keys != _cache["keys"]
        if rebuild or stale or _cache["zone"] is None:
            _cache["zone"] = build_zone()
            _cache["built_at"] = now
            _cache["keys"] = keys
        return _cache["zone"]


def _key_fingerprint():
    # Primary keys can be reused after rows are deleted, so the creation
    # time is part of the fingerprint of the key set.
    return DkimKey.objects.aggregate(count=Count("pk"), last_id=Max("pk"), last_created=Max("created_at"))


@receiver([post_save, post_delete], sender=DkimKey)
@receiver([post_save, post_delete], sender=List)
def _forget_zone(**kwargs):
    with _lock:
        _cache["zone"] = None


# --- Records an account publishes on a real domain ---------------------------------


def records_to_publish(account):
    """Return the DNS records each sender domain of the account needs, as dicts of domain, name, type, value, published.

    For each domain: one TXT record per DKIM key at `<selector>._domainkey`,
    an SPF record naming the active relay source addresses, and a DMARC
    policy that only reports (p=none) until the domain's mail is seen to
    pass. `published` is True when the built-in zone serves the same DKIM
    value, and None for SPF and DMARC, which the built-in zone does not carry.
    """
    from sending.models import SourceIp

    domains = sorted({email.rpartition("@")[2].lower() for email in account.lists.values_list("sender_email", flat=True)})
    keys = list(DkimKey.objects.filter(account=account).order_by("algorithm"))
    addresses = list(SourceIp.objects.filter(active=True).order_by("address").values_list("address", flat=True))
    spf = " ".join(["v=spf1", *(f"ip4:{address}" for address in addresses), "~all"])

    records = []
    for domain in domains:
        for key in keys:
            name = f"{key.selector}._domainkey.{domain}"
            value = dns_record(key)
            records.append(_record(domain, name, value, resolve_txt(name) == value.encode("ascii")))
        records.append(_record(domain, domain, spf, None))
        records.append(_record(domain, f"_dmarc.{domain}", f"v=DMARC1; p=none; rua=mailto:dmarc-reports@{domain}", None))
    return records


def _record(domain, name, value, published):
    return {"domain": domain, "name": name, "type": "TXT", "value": value, "published": published}
