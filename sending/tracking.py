"""Open and click tracking in campaign messages: tracked links, signed redirect URLs and the open pixel.

With tracking on, every http(s) link of a message becomes a numbered
TrackedLink, and each delivery gets its own redirect URL per link:

    {console origin}/track/click/<delivery id>/<link number>/<signature>
    {console origin}/track/open/<delivery id>/<signature>.gif

The signature is an HMAC of the delivery id and link number made with the
server secret, so a URL cannot be forged or pointed at another address: the
click endpoint only redirects to a link stored for the delivery's message.
"""

import html
import re

from django.utils.crypto import constant_time_compare, salted_hmac

from sending.models import TrackedLink

TRACKING_SALT = "sending.tracking-link"
# 32 hex characters, 128 bits of the HMAC-SHA256.
SIGNATURE_LENGTH = 32
# An href attribute in double or single quotes; unquoted values are left alone.
HREF = re.compile(r"""(<(?:a|area)\b[^>]*?\bhref\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)
TEXT_URL = re.compile(r"""https?://[^\s<>"']+""", re.IGNORECASE)
# MailUp's editor marks tracked links as http://[track]/https://…
TRACK_PREFIX = re.compile(r"^https?://\[track\]/", re.IGNORECASE)
TRACKABLE = re.compile(r"^https?://", re.IGNORECASE)
UNTRACKED_TAGS = re.compile(r"\[(?:unsubscribe|listunsubscribe|mailto_uns)\]", re.IGNORECASE)
BODY_CLOSE_TAG = re.compile(r"</body\s*>", re.IGNORECASE)
PIXEL_TEMPLATE = '<img src="{url}" width="1" height="1" alt="" style="display:block;border:0;width:1px;height:1px">'
# A transparent 1x1 GIF.
PIXEL_GIF = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b")


def sign(value):
    return salted_hmac(TRACKING_SALT, value, algorithm="sha256").hexdigest()[:SIGNATURE_LENGTH]


def check_open_signature(delivery_id, signature):
    return constant_time_compare(sign(f"open:{delivery_id}"), signature)


def check_click_signature(delivery_id, number, signature):
    return constant_time_compare(sign(f"click:{delivery_id}:{number}"), signature)


def open_url(origin, delivery_id):
    return f"{origin}/track/open/{delivery_id}/{sign(f'open:{delivery_id}')}.gif"


def click_url(origin, delivery_id, number):
    return f"{origin}/track/click/{delivery_id}/{number}/{sign(f'click:{delivery_id}:{number}')}"


def link_target(raw_url):
    """Return the URL a link in a message leads to, or None when it is not tracked.

    `raw_url` is the link as written: the `[track]` prefix goes, and only
    http(s) links without an unsubscribe tag are tracked, so the one-click
    unsubscribe link keeps working without a redirect.
    """
    url = TRACK_PREFIX.sub("", raw_url.strip())
    if not TRACKABLE.match(url) or UNTRACKED_TAGS.search(url):
        return None
    return url


def message_links(message):
    """Return the tracked links of `message` as {url: number}, storing the new ones.

    Links are numbered in order of first appearance in the HTML, then in
    the text part. Running it twice, or in two workers at once, stores
    each link once because numbers follow the message content.
    """
    urls = []
    for match in HREF.finditer(message.html):
        urls.append(html.unescape(match.group(3)))
    urls.extend(_split_trailing(match.group(0))[0] for match in TEXT_URL.finditer(message.text))
    targets = list(dict.fromkeys(target for target in map(link_target, urls) if target))

    known = dict(TrackedLink.objects.filter(message=message).values_list("url", "number"))
    next_number = max(known.values(), default=0) + 1
    new_links = []
    for url in targets:
        if url not in known:
            new_links.append(TrackedLink(message=message, number=next_number, url=url))
            next_number += 1
    if new_links:
        TrackedLink.objects.bulk_create(new_links, ignore_conflicts=True)
        known = dict(TrackedLink.objects.filter(message=message).values_list("url", "number"))
    return known


def rewrite_html(body, links, origin, delivery_id):
    """Point every tracked href of an HTML body at its click redirect for this delivery."""

    def replace(match):
        target = link_target(html.unescape(match.group(3)))
        number = links.get(target) if target else None
        if number is None:
            return match.group(0)
        return f"{match.group(1)}{match.group(2)}{click_url(origin, delivery_id, number)}{match.group(2)}"

    return HREF.sub(replace, body)


def rewrite_text(body, links, origin, delivery_id):
    """Replace every tracked URL of a plain-text body by its click redirect for this delivery."""

    def replace(match):
        url, trailing = _split_trailing(match.group(0))
        target = link_target(url)
        number = links.get(target) if target else None
        return match.group(0) if number is None else click_url(origin, delivery_id, number) + trailing

    return TEXT_URL.sub(replace, body)


def _split_trailing(candidate):
    """Split a URL found in text from the punctuation that ends the sentence or closes a bracket around it.

    A closing parenthesis stays when the URL opened one, as in
    https://en.wikipedia.org/wiki/Mail_(disambiguation).
    """
    url = candidate
    while url and url[-1] in ".,;:!?)":
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url, candidate[len(url) :]


def add_open_pixel(body, origin, delivery_id):
    """Add the open pixel just before </body>, or at the end of a fragment."""
    pixel = PIXEL_TEMPLATE.format(url=open_url(origin, delivery_id))
    closing = None
    for closing in BODY_CLOSE_TAG.finditer(body):
        pass
    if closing is None:
        return body + pixel
    return body[: closing.start()] + pixel + body[closing.start() :]
