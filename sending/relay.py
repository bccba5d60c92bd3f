"""The smart relay: hands claimed deliveries to the next hop, by ISP rules and limits.

A batch groups its deliveries by the recipient's ISP, takes each ISP's
route (pool and limits per source IP) from the rules in force, and books
hourly slots per source address before sending. Deliveries that find no
slot wait for the next hour, and deliveries that find every connection
taken wait a minute, without spending a retry. One SMTP session per
source address and ISP carries all of the batch's messages for that pair.
"""

import logging
import queue
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from sending import campaign_rendering, clock, relay_limits, relay_routes, services, smtp
from sending.isp import isp_for
from sending.models import Sending

logger = logging.getLogger(__name__)

REASON_NOT_SUBSCRIBED = "The recipient left the list before the message was sent."
# A delivery that finds every allowed connection in use tries again after this long.
CONNECTION_WAIT = timedelta(minutes=1)
# SMTP sessions one batch runs at once, one thread each, so rendering
# and signing go on while other sessions wait for the next hop's reply.
MAX_PARALLEL_SESSIONS = 8
# Results written to the database per transaction.
RECORD_BATCH = 50


def deliver_batch(delivery_ids):
    """Claim, render, sign and send the due deliveries among `delivery_ids`; return how many were delivered."""
    # A bad default pool raises here, before any delivery is claimed and left waiting.
    relay_routes.default_pool()
    deliveries = services.claim_deliveries(delivery_ids)
    if not deliveries:
        return 0

    now = clock.now()
    table = relay_routes.RouteTable(now)
    sessions = []
    for isp, group in _by_isp(_drop_unsubscribed(deliveries)).items():
        route = table.route(isp)
        plan, waiting = allocate(route, group, clock.hour_start(now))
        if waiting:
            _wait_for_next_hour(route, waiting, now)
        sessions += [Session(route, source_ip, items) for source_ip, items in plan.items()]

    campaigns = _load_campaigns({delivery.sending_id for delivery in deliveries})
    delivered = _run_sessions(_open_leases(sessions), campaigns)
    for sending_id in campaigns:
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


@dataclass
class Session:
    """The deliveries that one SMTP session from `source_ip` carries to one ISP."""

    route: relay_routes.Route
    source_ip: str
    deliveries: list
    lease: str | None = None


def _open_leases(sessions):
    """Take a connection slot for each session whose route limits connections; postpone the sessions without one."""
    ready = []
    for session in sessions:
        route = session.route
        if route.max_connections:
            session.lease = relay_limits.counters().open_connection(route.isp, session.source_ip, route.max_connections)
            if session.lease is None:
                reason = f"All {route.max_connections} connections from {session.source_ip} to {route.isp} are in use."
                services.postpone_deliveries(session.deliveries, clock.now() + CONNECTION_WAIT, reason)
                continue
        ready.append(session)
    return ready


def _load_campaigns(sending_ids):
    sendings = Sending.objects.select_related("message", "list__account").filter(pk__in=sending_ids)
    return {sending.pk: campaign_rendering.load_campaign(sending) for sending in sendings}


def _run_sessions(sessions, campaigns):
    """Run the sessions in parallel threads and record their results in batches; return how many were delivered.

    The threads render, sign and send; only this thread touches the
    database, so the threads need no connection of their own. Results are
    written every RECORD_BATCH messages, so a killed worker leaves at most
    its claimed deliveries unrecorded.
    """
    if not sessions:
        return 0
    results = queue.Queue()
    delivered = 0
    pending = []
    try:
        with ThreadPoolExecutor(max_workers=min(len(sessions), MAX_PARALLEL_SESSIONS)) as executor:
            for session in sessions:
                executor.submit(_send_session, session, campaigns, results.put)
            for _ in range(sum(len(session.deliveries) for session in sessions)):
                result = results.get()
                pending.append(result)
                delivered += not result.error
                if len(pending) >= RECORD_BATCH:
                    services.record_attempts(pending)
                    pending = []
        services.record_attempts(pending)
    finally:
        _close_leases(sessions)
    return delivered


def _close_leases(sessions):
    for session in sessions:
        if session.lease is not None:
            relay_limits.counters().close_connection(session.lease)


def _send_session(session, campaigns, report):
    """Send a session's deliveries over one connection, calling `report` with each AttemptResult."""
    connection = smtp.Connection(session.source_ip, max_messages=session.route.max_per_connection)
    sent = 0
    try:
        for delivery in session.deliveries:
            report(_deliver_one(campaigns[delivery.sending_id], delivery, connection, session.route.isp))
            sent += 1
    except Exception as error:
        # Report every delivery left as deferred, so the recording loop
        # gets one result per delivery and never waits for ever.
        logger.exception("relay session failed source_ip=%s isp=%s", session.source_ip, session.route.isp)
        for delivery in session.deliveries[sent:]:
            report(services.AttemptResult(delivery, session.source_ip, session.route.isp, error=f"Relay error: {error}"))
    finally:
        connection.close()


def _deliver_one(campaign, delivery, connection, isp):
    """Send one delivery and return its AttemptResult."""
    source_ip = connection.source_ip
    try:
        raw = campaign_rendering.render_delivery(campaign, delivery)
    except Exception as error:
        # A template or data error fails the same way on every retry.
        logger.exception("delivery rendering failed delivery=%s sending=%s", delivery.pk, delivery.sending_id)
        return services.AttemptResult(delivery, source_ip, isp, error=f"Rendering failed: {error}", permanent=True)

    started = time.monotonic()
    try:
        connection.send(raw, campaign_rendering.return_path(delivery), delivery.to_email)
    except smtp.DeliveryError as error:
        return services.AttemptResult(
            delivery, source_ip, isp, "", str(error), error.permanent, error.smtp_code, _elapsed_ms(started)
        )
    message_id = campaign_rendering.message_id(campaign, delivery)
    return services.AttemptResult(delivery, source_ip, isp, message_id=message_id, duration_ms=_elapsed_ms(started))


def _elapsed_ms(started):
    return int((time.monotonic() - started) * 1000)
