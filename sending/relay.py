"""Hand-over of claimed deliveries to the next hop over SMTP.

One SMTP session per source address carries every message of a batch that
leaves from that address.
"""

import ipaddress
import logging
import time
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from sending import campaign_rendering, services, smtp
from sending.isp import isp_for
from sending.models import Sending

logger = logging.getLogger(__name__)

REASON_NOT_SUBSCRIBED = "The recipient left the list before the message was sent."


LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


def source_ip_for(delivery):
    """Spread deliveries over the configured pool by id."""
    # TODO: choose the pool and address by the recipient's ISP rules and limits.
    pool = _source_pool(tuple(settings.SENDING_SOURCE_IPS))
    return pool[delivery.pk % len(pool)]


@lru_cache(maxsize=8)
def _source_pool(addresses):
    """Return the pool unchanged, or raise ImproperlyConfigured when it is empty or has a foreign address.

    0.0.0.0 lets the operating system choose, which a container needs when
    the sink runs in another container.
    """
    if not addresses:
        raise ImproperlyConfigured("SENDING_SOURCE_IPS is empty; set at least one address in 127.0.0.0/8.")
    for address in addresses:
        try:
            allowed = address == "0.0.0.0" or ipaddress.ip_address(address) in LOOPBACK
        except ValueError:
            allowed = False
        if not allowed:
            raise ImproperlyConfigured(
                f"SENDING_SOURCE_IPS contains {address!r}; use addresses in 127.0.0.0/8, or 0.0.0.0."
            )
    return addresses


def deliver_batch(delivery_ids):
    """Claim, render, sign and send the due deliveries among `delivery_ids`; return how many were delivered."""
    # A bad pool raises here, before any delivery is claimed and left waiting.
    _source_pool(tuple(settings.SENDING_SOURCE_IPS))
    deliveries = services.claim_deliveries(delivery_ids)
    if not deliveries:
        return 0

    allowed = services.still_subscribed(deliveries)
    campaigns = {}
    connections = {}
    delivered = 0
    try:
        for delivery in deliveries:
            if delivery.pk not in allowed:
                services.record_delivery_failure(delivery, REASON_NOT_SUBSCRIBED, permanent=True)
                continue
            campaign = campaigns.get(delivery.sending_id) or _load(campaigns, delivery.sending_id)
            delivered += _deliver_one(campaign, delivery, connections)
    finally:
        for connection in connections.values():
            connection.close()

    for sending_id in campaigns:
        services.finish_sending_if_done(sending_id)
    return delivered


def _load(campaigns, sending_id):
    sending = Sending.objects.select_related("message", "list__account").get(pk=sending_id)
    campaigns[sending_id] = campaign_rendering.load_campaign(sending)
    return campaigns[sending_id]


def _deliver_one(campaign, delivery, connections):
    """Send one delivery and record its outcome; return 1 when the next hop accepted it, else 0."""
    try:
        raw = campaign_rendering.render_delivery(campaign, delivery)
    except Exception as error:
        # A template or data error fails the same way on every retry.
        logger.exception("delivery rendering failed delivery=%s sending=%s", delivery.pk, delivery.sending_id)
        services.record_delivery_failure(delivery, f"Rendering failed: {error}", permanent=True)
        return 0

    isp = isp_for(delivery.to_email)
    source_ip = source_ip_for(delivery)
    connection = connections.setdefault(source_ip, smtp.Connection(source_ip))
    started = time.monotonic()
    try:
        connection.send(raw, campaign_rendering.return_path(delivery), delivery.to_email)
    except smtp.DeliveryError as error:
        duration_ms = _elapsed_ms(started)
        services.record_delivery_failure(
            delivery, str(error), error.permanent, source_ip, error.smtp_code, duration_ms, isp
        )
        return 0

    message_id = campaign_rendering.message_id(campaign, delivery)
    services.record_delivered(delivery, message_id, source_ip, _elapsed_ms(started), isp)
    return 1


def _elapsed_ms(started):
    return int((time.monotonic() - started) * 1000)
