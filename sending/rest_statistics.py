"""MailStatisticsService.svc of MailUp's REST API v1.1: counts and lists per message and per recipient.

The rows come from sending.statistics. Each `Count` is the
`TotalElementsCount` of the matching `List` without filterby, so a client
may use either.

Item shapes (MailUp shows the first three; the rest follow them):

- per-message Recipients, Views, Bounces, Unsubscriptions and Clicks:
  `{"Count", "Email", "IdRecipient"}`, one item per recipient;
- UrlClicks: `{"Count", "IdMessage", "Url"}`; UrlClickDetails adds
  `Email` and `IdRecipient`;
- per-recipient lists: `{"Count", "IdList", "IdMessage", "Notes", "Subject"}`,
  one item per message; BouncesDetails and ClicksDetails list each bounced
  delivery or click with `Date` and `Type` or `Url`.
"""

from lists.models import Recipient
from lists.rest import parse_listing
from mailup_sim.filterby import Property
from mailup_sim.rest import get_or_404, json_response, paged_response, query_params, read_page
from sending import statistics
from sending.models import DeliveryEvent, Message
from sending.rest import format_utc

Kind = DeliveryEvent.Kind
RECIPIENT_ITEM_PROPERTIES = {
    "idrecipient": Property("IdRecipient", "int"),
    "email": Property("Email", casefold=True),
    "count": Property("Count", "int"),
}
MESSAGE_ITEM_PROPERTIES = {
    "idmessage": Property("IdMessage", "int"),
    "idlist": Property("IdList", "int"),
    "subject": Property("Subject"),
    "notes": Property("Notes"),
    "count": Property("Count", "int"),
}
URL_PROPERTIES = {"url": Property("Url"), "count": Property("Count", "int"), "idmessage": Property("IdMessage", "int")}
# The keys each kind of row is grouped by, which end every ordering: the
# primary key would split the groups.
RECIPIENT_KEYS = ("IdRecipient",)
URL_KEYS = ("Url",)
URL_RECIPIENT_KEYS = ("Url", "IdRecipient")
MESSAGE_KEYS = ("IdMessage",)

# Lower-case kind in the path: (rows of a message, filterby properties, grouping keys).
MESSAGE_ROWS = {
    "recipients": (statistics.message_recipients, RECIPIENT_ITEM_PROPERTIES, RECIPIENT_KEYS),
    "views": (
        lambda message: statistics.message_events(message, [Kind.OPEN]),
        RECIPIENT_ITEM_PROPERTIES,
        RECIPIENT_KEYS,
    ),
    "bounces": (statistics.message_bounces, RECIPIENT_ITEM_PROPERTIES, RECIPIENT_KEYS),
    "unsubscriptions": (statistics.message_unsubscriptions, RECIPIENT_ITEM_PROPERTIES, RECIPIENT_KEYS),
    "clicks": (
        lambda message: statistics.message_events(message, [Kind.CLICK]),
        RECIPIENT_ITEM_PROPERTIES,
        RECIPIENT_KEYS,
    ),
    "urlclicks": (statistics.message_url_clicks, URL_PROPERTIES, URL_KEYS),
    "urlclickdetails": (
        lambda message: statistics.message_url_clicks(message, per_recipient=True),
        {**URL_PROPERTIES, **RECIPIENT_ITEM_PROPERTIES},
        URL_RECIPIENT_KEYS,
    ),
}
# UrlClickDetails is a list only, as at MailUp.
MESSAGE_COUNTS = set(MESSAGE_ROWS) - {"urlclickdetails"}

# Lower-case kind in the path: rows of a recipient. Details have one row
# per delivery or event, so they keep the primary key as their last key.
RECIPIENT_ROWS = {
    "deliveries": statistics.recipient_deliveries,
    "views": lambda recipient: statistics.recipient_events(recipient, [Kind.OPEN]),
    "bounces": statistics.recipient_bounces,
    "bouncesdetails": statistics.recipient_bounce_details,
    "unsubscriptions": statistics.recipient_unsubscriptions,
    "clicks": lambda recipient: statistics.recipient_events(recipient, [Kind.CLICK]),
    "clicksdetails": statistics.recipient_click_details,
}
RECIPIENT_COUNTS = {"deliveries", "views", "bounces", "unsubscriptions", "clicks"}
# filterby properties of the per-recipient lists whose items add Type or Url to the message item.
RECIPIENT_DETAIL_PROPERTIES = {
    "bouncesdetails": {**MESSAGE_ITEM_PROPERTIES, "type": Property("Type")},
    "clicksdetails": {**MESSAGE_ITEM_PROPERTIES, "url": Property("Url")},
}


def get_message(account, message_id):
    return get_or_404(Message.objects.filter(pk=message_id, list__account=account), f"message {message_id}")


def get_recipient(account, recipient_id):
    return get_or_404(Recipient.objects.filter(pk=recipient_id, account=account), f"recipient {recipient_id}")


def message_count(kind):
    """Build the view of GET /Message/{id}/Count/{kind}: a bare number."""
    rows = MESSAGE_ROWS[kind][0]

    def message_count(request, message_id):
        return json_response(rows(get_message(request.account, message_id)).count())

    return message_count


def message_list(kind):
    """Build the view of GET /Message/{id}/List/{kind}: a paged list."""
    rows, properties, keys = MESSAGE_ROWS[kind]

    def message_list(request, message_id):
        return paged_rows(request, rows(get_message(request.account, message_id)), properties, keys, dict)

    return message_list


def recipient_count(kind):
    """Build the view of GET /Recipient/{id}/Count/{kind}: a bare number."""
    rows = RECIPIENT_ROWS[kind]

    def recipient_count(request, recipient_id):
        return json_response(rows(get_recipient(request.account, recipient_id)).count())

    return recipient_count


def recipient_list(kind):
    """Build the view of GET /Recipient/{id}/List/{kind}: a paged list."""
    rows = RECIPIENT_ROWS[kind]
    details = kind.endswith("details")
    shape = shape_detail if details else dict
    keys = ("pk",) if details else MESSAGE_KEYS
    properties = RECIPIENT_DETAIL_PROPERTIES.get(kind, MESSAGE_ITEM_PROPERTIES)

    def recipient_list(request, recipient_id):
        rows_of_recipient = rows(get_recipient(request.account, recipient_id))
        return paged_rows(request, rows_of_recipient, properties, keys, shape)

    return recipient_list


def paged_rows(request, rows, properties, keys, shape):
    """Return one page of grouped rows, filtered and ordered as the query asks and then by their grouping keys."""
    params = query_params(request)
    page = read_page(params)
    query, ordering = parse_listing(params, properties, default_order=keys)
    return paged_response(rows.filter(query).order_by(*ordering), page, shape)


def shape_detail(row):
    """Shape a BouncesDetails or ClicksDetails row with its date in MailUp's UTC format."""
    return {**row, "Date": format_utc(row["Date"])}
