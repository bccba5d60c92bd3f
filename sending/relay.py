"""The smart relay: hands claimed deliveries to the next hop, by ISP rules and limits.

A batch groups its deliveries by the recipient's ISP, takes each ISP's
route (pool and limits per source IP) from the rules in force, and books
hourly slots per source address before sending. Deliveries that find no
slot wait for the next hour, and deliveries that find every connection
taken wait a minute, without spending a retry. One SMTP session per
source address and ISP carries all of the batch's messages for that pair.
"""

import logging
import time
from datetime import timedelta

from sending import campaign_rendering, clock, relay_limits, relay_routes, services, smtp
from sending.isp import isp_for
from sending.models import Sending

logger = logging.getLogger(__name__)

REASON_NOT_SUBSCRIBED = "The recipient left the list before the message was sent."
# A delivery that finds every allowed connection in use tries again after this long.
CONNECTION_WAIT = timedelta(minutes=1)


def deliver_batch(delivery_ids):
    """Claim, render, sign and send the due deliveries among `delivery_ids`; return how many were delivered."""
    # A bad default pool raises here, before any delivery is claimed and left waiting.
    relay_routes.default_pool()
    deliveries = services.claim_deliveries(delivery_ids)
    if not deliveries:
        return 0

    now = clock.now()
    table = relay_routes.RouteTable(now)
    campaigns = {}
    delivered = 0
    for isp, group in _by_isp(_drop_unsubscribed(deliveries)).items():
        route = table.route(isp)
        plan, waiting = allocate(route, group, clock.hour_start(now))
        if waiting:
            _wait_for_next_hour(route, waiting, now)
        for source_ip, items in plan.items():
            delivered += _send_from(route, source_ip, items, campaigns)

    for sending_id in {delivery.sending_id for delivery in deliveries}:
        services.finish_sending_if_done(sending_id)
    return delivered


def _drop_unsubscribed(deliveries):
    allowed = services.still_subscribed(deliveries)
    for delivery in deliveries:
        if delivery.pk not in allowed:
            services.record_delivery_failure(delivery, REASON_NOT_SUBSCRIBED, permanent=True)
    return [delivery for delivery in deliveries if delivery.pk in allowed]


def _by_isp(deliveries):
    groups = {}
    for delivery in deliveries:
        groups.setdefault(isp_for(delivery.to_email), []).append(delivery)
    return groups


def allocate(route, deliveries, hour):
    """Split `deliveries` over the route's addresses within their hourly limits.

    Returns ({source_ip: [delivery, ...]}, [deliveries left without a slot]).
    Without an hourly limit each delivery takes the address its id points
    at, so consecutive batches spread evenly.
    """
    addresses = route.addresses
    if route.max_per_hour is None:
        plan = {}
        for delivery in deliveries:
            plan.setdefault(addresses[delivery.pk % len(addresses)], []).append(delivery)
        return plan, []

    counters = relay_limits.counters()
    remaining = list(deliveries)
    plan = {}
    for index, source_ip in enumerate(addresses):
        # Ask each address for an even share of what is left, so an address
        # that is full hands its share on to the next ones.
        share = -(-len(remaining) // (len(addresses) - index))
        granted = counters.take_hourly_slots(route.isp, source_ip, hour, route.max_per_hour, share) if share else 0
        if granted:
            plan[source_ip], remaining = remaining[:granted], remaining[granted:]
    return plan, remaining


def _wait_for_next_hour(route, deliveries, now):
    until = clock.hour_start(now) + timedelta(hours=1)
    reason = f"Hourly limit of {route.max_per_hour} messages per address to {route.isp} reached; waiting until {until:%H:%M} UTC."
    services.postpone_deliveries(deliveries, until, reason)
    logger.info("relay limit reached isp=%s rule=%s waiting=%s until=%s", route.isp, route.rule_id, len(deliveries), until)


def _send_from(route, source_ip, deliveries, campaigns):
    """Send `deliveries` over one session from `source_ip`; return how many the next hop accepted."""
    counters = relay_limits.counters() if route.max_connections else None
    lease = counters.open_connection(route.isp, source_ip, route.max_connections) if counters else None
    if counters and lease is None:
        until = clock.now() + CONNECTION_WAIT
        reason = f"All {route.max_connections} connections from {source_ip} to {route.isp} are in use."
        services.postpone_deliveries(deliveries, until, reason)
        return 0

    connection = smtp.Connection(source_ip, max_messages=route.max_per_connection)
    delivered = 0
    try:
        for delivery in deliveries:
            campaign = campaigns.get(delivery.sending_id) or _load(campaigns, delivery.sending_id)
            delivered += _deliver_one(campaign, delivery, connection, route.isp)
    finally:
        connection.close()
        if lease is not None:
            counters.close_connection(lease)
    return delivered


def _load(campaigns, sending_id):
    sending = Sending.objects.select_related("message", "list__account").get(pk=sending_id)
    campaigns[sending_id] = campaign_rendering.load_campaign(sending)
    return campaigns[sending_id]


def _deliver_one(campaign, delivery, connection, isp):
    """Send one delivery and record its outcome; return 1 when the next hop accepted it, else 0."""
    try:
        raw = campaign_rendering.render_delivery(campaign, delivery)
    except Exception as error:
        # A template or data error fails the same way on every retry.
        logger.exception("delivery rendering failed delivery=%s sending=%s", delivery.pk, delivery.sending_id)
        services.record_delivery_failure(delivery, f"Rendering failed: {error}", permanent=True, isp=isp)
        return 0

    source_ip = connection.source_ip
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
