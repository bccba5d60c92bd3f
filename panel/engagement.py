"""Opens, clicks, bounces and ISPs of a sending, for the sending page."""

from django.utils.timezone import localtime
from django.utils.translation import gettext as _

from panel.charts import bar_chart
from panel.counts import CACHE_FROM_SUBSCRIPTIONS, cached_value
from sending import isp as sending_isp
from sending import statistics as sending_statistics
from sending.models import DeliveryEvent, Sending


def sending_engagement(sending, by_isp, deliveries):
    """Return the sending page's engagement context: counters, per-ISP rows, opens and clicks per hour, top links.

    `by_isp` holds the per-ISP counters of sending.statistics, which the page
    computes live in the same pass as its progress. Opens and clicks per
    hour and the top links read every event of the sending, so for a
    sending of CACHE_FROM_SUBSCRIPTIONS deliveries or more they are reused
    for COUNT_CACHE_SECONDS.
    """

    def compute():
        return {
            "opens": sending_statistics.events_by_hour(sending, DeliveryEvent.Kind.OPEN),
            "clicks": sending_statistics.events_by_hour(sending, DeliveryEvent.Kind.CLICK),
            "links": sending_statistics.top_links(Sending.objects.filter(pk=sending.pk)),
        }

    figures = cached_value(f"engagement:{sending.pk}", compute, large=deliveries >= CACHE_FROM_SUBSCRIPTIONS)
    isps = [(isp_label(isp), counters) for isp, counters in sorted(by_isp.items())]
    return {
        **figures,
        "counters": _sum_counters(by_isp.values()),
        "isps": isps,
        "isp_chart": bar_chart([(isp, counters["delivered"]) for isp, counters in isps]),
        "opens_chart": bar_chart([(_hour_label(hour), total) for hour, total in figures["opens"]]),
        "clicks_chart": bar_chart([(_hour_label(hour), total) for hour, total in figures["clicks"]]),
    }


def isp_label(key):
    """Return the panel's name for an ISP key: the key itself, or words for the catch-all and for no attempt yet."""
    if key == sending_isp.OTHER:
        return _("other providers")
    return key or "-"


def _sum_counters(groups):
    """Add up per-ISP counters into the sending's totals.

    Every delivery belongs to exactly one ISP group, and each counter
    counts deliveries or events, so the sums equal
    sending_statistics.sending_statistics without a second pass.
    """
    totals = dict.fromkeys(sending_statistics.COUNTERS, 0)
    for counters in groups:
        for name in totals:
            totals[name] += counters[name]
    return totals


def _hour_label(hour):
    return localtime(hour).strftime("%Y-%m-%d %H:00")
