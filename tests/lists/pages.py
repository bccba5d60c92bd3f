"""Helpers for the frontend page tests: demo identifiers, database probes and a raw HTTP client."""

import http.client
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urlsplit

from lists.models import Group, GroupMembership, List, Recipient, Subscription, SubscriptionEvent
from sending.models import SystemMail

DEMO_CONSOLE_ID = 1234
LIST1_GUID = "0b6f4f5e-3c1a-4d2b-9e8f-1a2b3c4d5e01"
LIST2_GUID = "0b6f4f5e-3c1a-4d2b-9e8f-1a2b3c4d5e02"


def demo_list(list_id=1):
    return List.objects.get(account__console_id=DEMO_CONSOLE_ID, list_id=list_id)


def group_id(name):
    """Return the id of a demo group: Clienti and Prospect are on list 1, VIP on list 2."""
    return Group.objects.get(list__account__console_id=DEMO_CONSOLE_ID, name=name).pk


def recipient(email, console_id=DEMO_CONSOLE_ID):
    return Recipient.objects.filter(account__console_id=console_id, email=email).first()


def status(email, list_id=1, channel="email", console_id=DEMO_CONSOLE_ID):
    """Return the subscription status of `email` on a list, or None when it has no subscription there."""
    row = subscription(email, list_id, channel, console_id)
    return row.status if row else None


def subscription(email, list_id=1, channel="email", console_id=DEMO_CONSOLE_ID):
    return Subscription.objects.filter(
        recipient__account__console_id=console_id,
        recipient__email=email,
        list__list_id=list_id,
        channel=channel,
    ).first()


def group_names(email):
    memberships = GroupMembership.objects.filter(recipient__email=email).select_related("group")
    return sorted(membership.group.name for membership in memberships)


def events(email, **filters):
    return list(SubscriptionEvent.objects.filter(recipient__email=email, **filters).order_by("id"))


def system_mails(**filters):
    """Return the system mails queued so far. A row exists once the request that queued it has returned."""
    return list(SystemMail.objects.filter(**filters).order_by("id"))


def row_counts():
    """Count the rows that subscription calls write, to prove a rejected call wrote none."""
    return {
        "recipients": Recipient.objects.count(),
        "subscriptions": Subscription.objects.count(),
        "memberships": GroupMembership.objects.count(),
        "events": SubscriptionEvent.objects.count(),
        "mails": SystemMail.objects.count(),
    }


def open_link(client, url, method="GET", body=None, content_type=None):
    """Request an absolute link on the live server, keeping the link's Host, with an optional typed body."""
    parts = urlsplit(url)
    headers = {"Host": parts.netloc}
    if content_type:
        headers["Content-Type"] = content_type
    return client.request(method, f"{parts.path}?{parts.query}", data=body, headers=headers)


def change_query(url, **changes):
    """Return `url` with query parameters replaced, or removed where the new value is None."""
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    for name, value in changes.items():
        if value is None:
            params.pop(name, None)
        else:
            params[name] = value
    return parts._replace(query=urlencode(params)).geturl()


class _ParagraphParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.paragraphs = []
        self.html_lang = None
        self._inside = False

    def handle_starttag(self, tag, attrs):
        if tag == "html":
            self.html_lang = dict(attrs).get("lang")
        if tag == "p":
            self.paragraphs.append("")
            self._inside = True

    def handle_endtag(self, tag):
        if tag == "p":
            self._inside = False

    def handle_data(self, data):
        if self._inside:
            self.paragraphs[-1] += data


def paragraphs(html):
    """Return (texts of every <p>, the lang attribute of <html>) of an HTML page."""
    parser = _ParagraphParser()
    parser.feed(html)
    return [text.strip() for text in parser.paragraphs], parser.html_lang


@dataclass
class RawResponse:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self):
        return self.body.decode("utf-8")


class RawClient:
    """An http.client caller: the request target and body go out byte for byte, unlike with requests."""

    def __init__(self, server_url):
        parts = urlsplit(server_url)
        self.host = parts.hostname
        self.port = parts.port

    def request(self, method, target, body=None, headers=None, source_ip="127.0.0.1"):
        connection = http.client.HTTPConnection(self.host, self.port, timeout=60, source_address=(source_ip, 0))
        try:
            connection.request(method, target, body=body, headers=headers or {})
            response = connection.getresponse()
            return RawResponse(response.status, response.headers, response.read())
        finally:
            connection.close()

    def get(self, target, **kwargs):
        return self.request("GET", target, **kwargs)

    def post_form(self, target, body, **kwargs):
        headers = {"Content-Type": "application/x-www-form-urlencoded", **kwargs.pop("headers", {})}
        return self.request("POST", target, body=body, headers=headers, **kwargs)
