"""Open and click tracking in campaign messages: tracked links, signed redirect URLs and the open pixel.

With tracking on, every http(s) link of a message becomes a numbered
TrackedLink, and each delivery gets its own redirect URL per link:

    {console origin}/track/click/<delivery id>/<signature>/<link number>
    {console origin}/track/open/<delivery id>/<signature>.gif

`<delivery id>/<signature>` is the delivery's tracking token. The signature
is an HMAC of the delivery id made with the server secret, so nobody can
record opens or clicks for a delivery they did not receive. A message's
links are rewritten once, with the token as the merge tag `[TOKEN_TAG]`,
and each delivery fills in its own token like any other tag. The link
number is not signed: changing it leads to another link stored for the
same message, because the click endpoint only redirects to those.
"""

import html
import re

from django.utils.crypto import constant_time_compare, salted_hmac

from sending.models import TrackedLink

TRACKING_SALT = "sending.tracking-token"
# 32 hex characters, 128 bits of the HMAC-SHA256.
SIGNATURE_LENGTH = 32
# The merge tag that each delivery fills with its tracking token.
TOKEN_TAG = "mailupsim_tracking_token"
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


def sign(delivery_id):
    return salted_hmac(TRACKING_SALT, str(delivery_id), algorithm="sha256").hexdigest()[:SIGNATURE_LENGTH]


def check_signature(delivery_id, signature):
    return constant_time_compare(sign(delivery_id), signature)


def delivery_token(delivery_id):
    """Return the value of `[TOKEN_TAG]` for one delivery: its id and signature."""
    return f"{delivery_id}/{sign(delivery_id)}"


def open_url(origin, token=f"[{TOKEN_TAG}]"):
    """Return the open pixel URL; without `token` it contains the merge tag that each delivery fills in."""
    return f"{origin}/track/open/{token}.gif"


def click_url(origin, number, token=f"[{TOKEN_TAG}]"):
    """Return the click redirect URL of link `number`; without `token` it contains the merge tag."""
    return f"{origin}/track/click/{token}/{number}"


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


def rewrite_html(body, links, origin):
    """Point every tracked href of an HTML body at its click redirect, with the token left as a merge tag."""

    def replace(match):
        target = link_target(html.unescape(match.group(3)))
        number = links.get(target) if target else None
        if number is None:
            return match.group(0)
        return f"{match.group(1)}{match.group(2)}{click_url(origin, number)}{match.group(2)}"

    return HREF.sub(replace, body)


def rewrite_text(body, links, origin):
    """Replace every tracked URL of a plain-text body by its click redirect, with the token left as a merge tag."""

    def replace(match):
        url, trailing = _split_trailing(match.group(0))
        target = link_target(url)
        number = links.get(target) if target else None
        return match.group(0) if number is None else click_url(origin, number) + trailing

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


def add_open_pixel(body, origin):
    """Add the open pixel just before </body>, or at the end of a fragment, with the token left as a merge tag."""
    pixel = PIXEL_TEMPLATE.format(url=open_url(origin))
    closing = None
    for closing in BODY_CLOSE_TAG.finditer(body):
        pass
    if closing is None:
        return body + pixel
    return body[: closing.start()] + pixel + body[closing.start() :]
