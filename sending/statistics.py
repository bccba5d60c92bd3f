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

from datetime import datetime, timezone
from itertools import chain

from django.db.models import Case, CharField, Count, Exists, F, Func, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce, TruncHour
from django.utils.timezone import localtime, make_aware

from lists.models import Source, SubscriptionEvent
from sending.models import Delivery, DeliveryAttempt, DeliveryEvent, Message

Status = Delivery.Status
Kind = DeliveryEvent.Kind
BOUNCE_KINDS = [Kind.HARD_BOUNCE, Kind.SOFT_BOUNCE]

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
    grouped = {}
    for row, counters in _grouped_counters(deliveries, field):
        _add_counters(grouped.setdefault(row[field] or "", dict.fromkeys(COUNTERS, 0)), counters)
    _add_event_totals(grouped, DeliveryEvent.objects.filter(delivery__in=deliveries.values("pk")), field)
    return grouped


def sending_breakdown(sending):
    """Return a sending's figures by status, hour, source IP and ISP, from two grouped passes over its deliveries.

    The result is a dict:

    - `statuses`: {delivery status: deliveries}; `sent`: deliveries with at least one attempt;
    - `delivered_by_hour`: (hour, deliveries now delivered) pairs by hour of
      delivery in the current time zone, oldest first;
    - `by_source_ip`: (source IP, deliveries) pairs of attempted deliveries, busiest first;
    - `by_isp`: {ISP key: counters}, as statistics_by_isp returns it.

    The counters come from one pass grouped by status, source IP and ISP,
    in the order of the `delivery_breakdown` index, which covers every
    column they read. The hours come from a second pass over the delivered
    deliveries only, grouped by minute of delivery.
    """
    deliveries = Delivery.objects.filter(sending=sending)
    statuses, sent, source_ips, by_isp = {}, 0, {}, {}
    for row, counters in _grouped_counters(deliveries, "status", "source_ip", "isp"):
        statuses[row["status"]] = statuses.get(row["status"], 0) + counters["recipients"]
        sent += counters["sent"]
        if row["source_ip"] is not None:
            source_ips[row["source_ip"]] = source_ips.get(row["source_ip"], 0) + counters["recipients"]
        _add_counters(by_isp.setdefault(row["isp"] or "", dict.fromkeys(COUNTERS, 0)), counters)
    # Every event of a delivery carries the delivery's sending, so the events need no subquery.
    _add_event_totals(by_isp, DeliveryEvent.objects.filter(sending=sending), "isp")

    delivered = deliveries.filter(status=Status.DELIVERED, delivered_at__isnull=False)
    hours = {}
    for row in delivered.values(minute=_UtcMinute("delivered_at")).annotate(total=Count("pk")).order_by():
        hour = _local_hour(row["minute"])
        hours[hour] = hours.get(hour, 0) + row["total"]
    return {
        "statuses": statuses,
        "sent": sent,
        "delivered_by_hour": [(make_aware(hour), total) for hour, total in sorted(hours.items())],
        "by_source_ip": sorted(source_ips.items(), key=lambda item: (-item[1], item[0])),
        "by_isp": by_isp,
    }


class _UtcMinute(Func):
    """The minute of a datetime column in UTC, as text "YYYY-MM-DD HH:MM", computed by the database itself.

    Django's TruncHour calls a Python function for each row on SQLite,
    where datetimes are stored as UTC text, so a prefix of the text is the
    cheapest grouping. Every UTC offset in use today is a whole number of
    minutes, so minutes regroup exactly into the hours of the current time zone.
    """

    output_field = CharField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, template="SUBSTR(%(expressions)s, 1, 16)", **extra_context)

    def as_postgresql(self, compiler, connection, **extra_context):
        template = "TO_CHAR(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')"
        return self.as_sql(compiler, connection, template=template, **extra_context)


def _local_hour(minute):
    """The naive start, in the current time zone, of the hour that holds `minute`, a text of _UtcMinute."""
    moment = localtime(datetime.strptime(minute, "%Y-%m-%d %H:%M").replace(tzinfo=timezone.utc))
    return moment.replace(minute=0, tzinfo=None)


def _grouped_counters(deliveries, *fields, **expressions):
    """Yield (row, counters) per combination of `fields` and `expressions` over `deliveries`.

    Deliveries that can have no flag are counted without the per-delivery
    subqueries, so a combination may come in two rows, to be added up.
    """
    candidates = _flag_candidates()
    flagged = _with_flags(deliveries.filter(candidates)).values(*fields, **expressions).annotate(**_delivery_counters())
    plain = deliveries.exclude(candidates).values(*fields, **expressions).annotate(**_delivery_counters(flags=False))
    for row in chain(plain.order_by(), flagged.order_by()):
        yield row, _counters(row)


def _add_event_totals(grouped, events, field):
    """Add the opens and clicks among `events` to `grouped`, {value of the delivery's `field`: counters}."""
    event_totals = (
        events.filter(kind__in=[Kind.OPEN, Kind.CLICK])
        .values(f"delivery__{field}", "kind")
        .annotate(total=Count("pk"))
        .order_by()
    )
    for row in event_totals:
        counters = grouped.setdefault(row[f"delivery__{field}"] or "", dict.fromkeys(COUNTERS, 0))
        counters["opens" if row["kind"] == Kind.OPEN else "clicks"] += row["total"]


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
    candidates = _flag_candidates()
    totals = _counters(deliveries.exclude(candidates).aggregate(**_delivery_counters(flags=False)))
    _add_counters(totals, _counters(_with_flags(deliveries.filter(candidates)).aggregate(**_delivery_counters())))
    events = DeliveryEvent.objects.filter(delivery__in=deliveries.values("pk"))
    totals["opens"] = events.filter(kind=Kind.OPEN).count()
    totals["clicks"] = events.filter(kind=Kind.CLICK).count()
    return totals


def _flag_candidates():
    """Match every delivery that can have a flag of `_with_flags`: it has an event, or its recipient unsubscribed.

    Every other delivery has all flags false, so it is counted without the
    six per-delivery subqueries. Most deliveries of a sending have no event.
    """
    unsubscribed = SubscriptionEvent.objects.filter(kind=SubscriptionEvent.Kind.UNSUBSCRIBE, source=Source.RECIPIENT)
    return Q(pk__in=DeliveryEvent.objects.values("delivery_id")) | Q(recipient_id__in=unsubscribed.values("recipient_id"))


def _add_counters(totals, counters):
    for name in COUNTERS:
        totals[name] += counters[name]


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


def _delivery_counters(flags=True):
    """Aggregates over deliveries annotated by `_with_flags`, one per counter except the event totals.

    With `flags` false they are those of deliveries whose flags are all
    false, which need no annotation.
    """
    hard_reply = Q(status=Status.FAILED, smtp_code__gte=500)
    soft_reply = Q(status=Status.FAILED, smtp_code__gte=400, smtp_code__lt=500)
    counters = {
        "recipients": Count("pk"),
        "sent": Count("pk", filter=Q(attempts__gt=0)),
        "delivered": Count("pk", filter=Q(delivered_at__isnull=False)),
        "queued": Count("pk", filter=Q(status__in=[Status.QUEUED, Status.SENDING])),
        "deferred": Count("pk", filter=Q(status=Status.DEFERRED)),
        "failed": Count("pk", filter=Q(status=Status.FAILED)),
    }
    if not flags:
        return counters | {"hard_bounces": Count("pk", filter=hard_reply), "soft_bounces": Count("pk", filter=soft_reply)}
    return counters | {
        "hard_bounces": Count("pk", filter=hard_reply | Q(has_hard_bounce=True)),
        "soft_bounces": Count("pk", filter=soft_reply | Q(has_soft_bounce=True)),
        "complaints": Count("pk", filter=Q(has_complaint=True)),
        "unsubscribes": Count("pk", filter=Q(has_unsubscribe=True)),
        "unique_opens": Count("pk", filter=Q(has_open=True)),
        "unique_clicks": Count("pk", filter=Q(has_click=True)),
    }


def _has_event(kind):
    return Exists(DeliveryEvent.objects.filter(delivery_id=OuterRef("pk"), kind=kind))


def _counters(row):
    return {name: row.get(name) or 0 for name in COUNTERS}


def events_by_hour(sending, kind):
    """Return (hour, count) pairs of a sending's events of one kind (open or click), oldest hour first."""
    rows = (
        DeliveryEvent.objects.filter(sending=sending, kind=kind)
        .annotate(hour=TruncHour("created_at"))
        .values("hour")
        .annotate(total=Count("pk"))
        .order_by("hour")
    )
    return [(row["hour"], row["total"]) for row in rows]
# --- Rows of MailStatisticsService ---------------------------------------------------
#
# Each function returns a values() queryset of dicts in MailUp's item shape,
# so the REST adapter can filter, order and page it. A bounce is what the
# bounce counters above count: a delivery that failed with a 4xx or 5xx
# reply during the SMTP session, or one with a later bounce report.


def message_recipients(message):
    """Recipients the message reached, one row per recipient: {IdRecipient, Email, Count}."""
    return _by_recipient(Delivery.objects.filter(sending__message=message, delivered_at__isnull=False))


def message_events(message, kinds):
    """Recipients with events of `kinds` (opens, clicks), one row per recipient counting the events."""
    return _by_recipient(DeliveryEvent.objects.filter(sending__message=message, kind__in=kinds))


def message_bounces(message):
    """Recipients whose delivery of the message bounced, one row per recipient counting bounced deliveries."""
    return _by_recipient(_bounced(Delivery.objects.filter(sending__message=message)))


def message_unsubscriptions(message):
    """Recipients who unsubscribed through the message, one row per recipient."""
    events = _recipient_unsubscribes().filter(message_id=message.pk, recipient__isnull=False)
    return _by_recipient(events)


def message_url_clicks(message, per_recipient=False):
    """Clicks per link URL, {Url, IdMessage, Count}; with `per_recipient`, one row per link and recipient."""
    names = {"Url": F("link__url"), "IdMessage": F("sending__message_id")}
    ordering = ["Url"]
    if per_recipient:
        names.update(IdRecipient=F("recipient_id"), Email=F("recipient__email"))
        ordering.append("IdRecipient")
    clicks = DeliveryEvent.objects.filter(sending__message=message, kind=Kind.CLICK, link__isnull=False)
    return clicks.values(**names).annotate(Count=Count("pk")).order_by(*ordering)


def recipient_deliveries(recipient):
    """Messages that reached the recipient, one row per message: {IdMessage, IdList, Subject, Notes, Count}."""
    return _by_message(Delivery.objects.filter(recipient=recipient, delivered_at__isnull=False), "sending")


def recipient_events(recipient, kinds):
    """Messages the recipient opened or clicked, one row per message counting the events."""
    return _by_message(DeliveryEvent.objects.filter(recipient=recipient, kind__in=kinds), "sending")


def recipient_bounces(recipient):
    """Messages whose delivery to the recipient bounced, one row per message."""
    return _by_message(_bounced(Delivery.objects.filter(recipient=recipient)), "sending")


def recipient_unsubscriptions(recipient):
    """Messages through which the recipient unsubscribed, one row per message counting the unsubscribes."""
    events = _recipient_unsubscribes().filter(recipient=recipient, message_id__isnull=False)
    messages = Message.objects.filter(pk__in=events.values("message_id"), list__account_id=recipient.account_id)
    return _by_message(messages, None)


def recipient_bounce_details(recipient):
    """Each bounced delivery to the recipient with its Type (hard_bounce or soft_bounce) and Date."""
    deliveries = _bounced(Delivery.objects.filter(recipient=recipient))
    last_attempt = DeliveryAttempt.objects.filter(delivery_id=OuterRef("pk")).order_by("-pk").values("created_at")[:1]
    last_report = (
        DeliveryEvent.objects.filter(delivery_id=OuterRef("pk"), kind__in=BOUNCE_KINDS)
        .order_by("-pk")
        .values("created_at")[:1]
    )
    hard = Q(status=Status.FAILED, smtp_code__gte=500) | Q(has_hard_bounce=True)
    return (
        deliveries.values(
            **_message_names("sending"),
            Type=Case(When(hard, then=Value(Kind.HARD_BOUNCE.value, output_field=CharField())), default=Value(Kind.SOFT_BOUNCE.value, output_field=CharField())),
            Date=Coalesce(Subquery(last_report), Subquery(last_attempt), F("created_at")),
        )
        .annotate(Count=Count("pk"))
        .order_by("pk")
    )


def recipient_click_details(recipient):
    """Each click of the recipient with its Url and Date."""
    clicks = DeliveryEvent.objects.filter(recipient=recipient, kind=Kind.CLICK)
    return (
        clicks.values(**_message_names("sending"), Url=F("url"), Date=F("created_at"))
        .annotate(Count=Count("pk"))
        .order_by("pk")
    )


def _bounced(deliveries):
    return deliveries.annotate(
        has_hard_bounce=_has_event(Kind.HARD_BOUNCE), has_soft_bounce=_has_event(Kind.SOFT_BOUNCE)
    ).filter(Q(status=Status.FAILED, smtp_code__gte=400) | Q(has_hard_bounce=True) | Q(has_soft_bounce=True))


def _recipient_unsubscribes():
    return SubscriptionEvent.objects.filter(kind=SubscriptionEvent.Kind.UNSUBSCRIBE, source=Source.RECIPIENT)


def _by_recipient(rows):
    """Group deliveries or events by recipient into {IdRecipient, Email, Count}."""
    return (
        rows.values(IdRecipient=F("recipient_id"), Email=F("recipient__email"))
        .annotate(Count=Count("pk"))
        .order_by("IdRecipient")
    )


def _by_message(rows, sending_field):
    """Group rows by message into {IdMessage, IdList, Subject, Notes, Count}; None means the rows are messages."""
    return rows.values(**_message_names(sending_field)).annotate(Count=Count("pk")).order_by("IdMessage")


def _message_names(sending_field):
    message = f"{sending_field}__message__" if sending_field else ""
    return {
        "IdMessage": F(f"{message}id"),
        "IdList": F(f"{message}list__list_id"),
        "Subject": F(f"{message}subject"),
        "Notes": F(f"{message}note"),
    }
