"""Counters of sendings, messages, source IPs and ISPs, computed from deliveries and their events.

Every function aggregates in the database, so it costs a few queries
whatever the number of deliveries. The SOAP reports, the REST
MailStatisticsService and the panel read these functions and nothing else.

The counters of one group of deliveries:

- `recipients`: deliveries created; `sent`: deliveries with at least one attempt;
- `delivered`: accepted by the next hop with a 250, even if a bounce came later;
- `queued`: waiting for a first or current attempt; `deferred`: waiting for a retry;
- `failed`: ended without delivery, for any reason;
- `hard_bounces`: a 5xx reply during the SMTP session, or a later DSN marked hard;
- `soft_bounces`: temporary failures until the retry window closed, or a later DSN marked soft;
- `complaints`: feedback-loop reports; `unsubscribes`: unsubscribes by the recipient
  through this message's links, List-Unsubscribe button or mailto;
- `opens`, `clicks`: every recorded event; `unique_opens`, `unique_clicks`: deliveries
  with at least one.
"""

from django.db.models import Count, Exists, OuterRef, Q

from lists.models import Source, SubscriptionEvent
from sending.models import Delivery, DeliveryEvent

Status = Delivery.Status
Kind = DeliveryEvent.Kind

COUNTERS = (
    "recipients", "sent", "delivered", "queued", "deferred", "failed", "hard_bounces", "soft_bounces",
    "complaints", "unsubscribes", "opens", "unique_opens", "clicks", "unique_clicks",
)  # fmt: skip


def sending_statistics(sending):
    """Return the counters of one sending."""
    return _totals(Delivery.objects.filter(sending=sending))


def message_statistics(message):
    """Return the counters of every sending of a message together."""
    return _totals(Delivery.objects.filter(sending__message=message))


def statistics_by_source_ip(deliveries=None):
    """Return {source IP: counters} for `deliveries` (every delivery when None); "" groups those never attempted."""
    return statistics_by(deliveries, "source_ip")


def statistics_by_isp(deliveries=None):
    """Return {ISP key: counters} for `deliveries` (every delivery when None); "" groups those never attempted."""
    return statistics_by(deliveries, "isp")


def statistics_by(deliveries, field):
    """Return {value of `field`: counters} for a Delivery queryset grouped by one of its fields."""
    deliveries = Delivery.objects.all() if deliveries is None else deliveries
    rows = _with_flags(deliveries).values(field).annotate(**_delivery_counters()).order_by(field)
    grouped = {row[field] or "": _counters(row) for row in rows}

    event_totals = (
        DeliveryEvent.objects.filter(delivery__in=deliveries.values("pk"), kind__in=[Kind.OPEN, Kind.CLICK])
        .values(f"delivery__{field}", "kind")
        .annotate(total=Count("pk"))
        .order_by()
    )
    for row in event_totals:
        counters = grouped.setdefault(row[f"delivery__{field}"] or "", dict.fromkeys(COUNTERS, 0))
        counters["opens" if row["kind"] == Kind.OPEN else "clicks"] += row["total"]
    return grouped


def top_links(sendings, limit=10):
    """Return the most clicked links of `sendings` (a Sending queryset), most clicks first.

    Each item is {"url", "number", "message", "clicks", "unique_clicks"},
    where `url` is the link as written in the message and
    `unique_clicks` counts deliveries that clicked it.
    """
    rows = (
        DeliveryEvent.objects.filter(sending__in=sendings, kind=Kind.CLICK, link__isnull=False)
        .values("link__url", "link__number", "link__message_id")
        .annotate(clicks=Count("pk"), unique_clicks=Count("delivery", distinct=True))
        .order_by("-clicks", "link__message_id", "link__number")[:limit]
    )
    return [
        {
            "url": row["link__url"],
            "number": row["link__number"],
            "message": row["link__message_id"],
            "clicks": row["clicks"],
            "unique_clicks": row["unique_clicks"],
        }
        for row in rows
    ]


def _totals(deliveries):
    totals = _counters(_with_flags(deliveries).aggregate(**_delivery_counters()))
    events = DeliveryEvent.objects.filter(delivery__in=deliveries.values("pk"))
    totals["opens"] = events.filter(kind=Kind.OPEN).count()
    totals["clicks"] = events.filter(kind=Kind.CLICK).count()
    return totals


def _with_flags(deliveries):
    """Annotate each delivery with whether it has each kind of event and a recipient unsubscribe."""
    return deliveries.annotate(
        has_open=_has_event(Kind.OPEN),
        has_click=_has_event(Kind.CLICK),
        has_hard_bounce=_has_event(Kind.HARD_BOUNCE),
        has_soft_bounce=_has_event(Kind.SOFT_BOUNCE),
        has_complaint=_has_event(Kind.COMPLAINT),
        has_unsubscribe=Exists(
            SubscriptionEvent.objects.filter(
                kind=SubscriptionEvent.Kind.UNSUBSCRIBE,
                source=Source.RECIPIENT,
                recipient_id=OuterRef("recipient_id"),
                list_id=OuterRef("sending__list_id"),
                message_id=OuterRef("sending__message_id"),
            )
        ),
    )


def _delivery_counters():
    """Aggregates over deliveries annotated by `_with_flags`, one per counter except the event totals."""
    return {
        "recipients": Count("pk"),
        "sent": Count("pk", filter=Q(attempts__gt=0)),
        "delivered": Count("pk", filter=Q(delivered_at__isnull=False)),
        "queued": Count("pk", filter=Q(status__in=[Status.QUEUED, Status.SENDING])),
        "deferred": Count("pk", filter=Q(status=Status.DEFERRED)),
        "failed": Count("pk", filter=Q(status=Status.FAILED)),
        "hard_bounces": Count("pk", filter=Q(status=Status.FAILED, smtp_code__gte=500) | Q(has_hard_bounce=True)),
        "soft_bounces": Count(
            "pk", filter=Q(status=Status.FAILED, smtp_code__gte=400, smtp_code__lt=500) | Q(has_soft_bounce=True)
        ),
        "complaints": Count("pk", filter=Q(has_complaint=True)),
        "unsubscribes": Count("pk", filter=Q(has_unsubscribe=True)),
        "unique_opens": Count("pk", filter=Q(has_open=True)),
        "unique_clicks": Count("pk", filter=Q(has_click=True)),
    }


def _has_event(kind):
    return Exists(DeliveryEvent.objects.filter(delivery_id=OuterRef("pk"), kind=kind))


def _counters(row):
    return {name: row.get(name) or 0 for name in COUNTERS}
