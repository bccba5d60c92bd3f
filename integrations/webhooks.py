"""Webhooks: turn recipient events into stored deliveries, send them, retry them, replay them.

lists.services calls `dispatch_event` for every event it records, inside
the transaction that made the change. Each matching webhook gets a
WebhookDelivery row there, so a rolled-back change calls nobody. The
placeholders are filled once the transaction commits, because a call such
as xmlSubscribe records its event before it writes the recipient's fields.
"""

import base64
import logging
import re
import socket
import threading
import time
from datetime import timedelta
from http.client import HTTPConnection, HTTPException, HTTPSConnection
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.encoding import iri_to_uri

from integrations.models import Webhook, WebhookAttempt, WebhookDelivery
from integrations.rules import matching_rules
from sending.merge_tags import MERGE_TAG, field_values

logger = logging.getLogger(__name__)

Status = WebhookDelivery.Status

# MailUp fires no webhooks for REST calls and bulk imports. lists.services
# marks their events with one of these values of details["interface"].
SILENT_INTERFACES = {"rest", "bulk_import"}

DELIVERY_ID_HEADER = "X-MailupSim-Delivery-Id"
REQUEST_TIMEOUT_SECONDS = 10
MAX_RESPONSE_CHARS = 2000
# Attempt n+1 runs 2^(n-1) minutes after attempt n: 1, 2, 4, ... 256
# minutes, so ten attempts span about 8.5 hours before the delivery fails.
MAX_ATTEMPTS = 10
# A delivery claimed this long ago by a worker that never reported back is
# taken to be lost with that worker, and the sweep enqueues it again. It is
# far above the 10-second request timeout, so a live attempt is rarely
# doubled, and receivers drop a duplicate by its delivery id header.
CLAIM_TIMEOUT = timedelta(minutes=5)
# How many due deliveries one sweep enqueues at most; the next sweep takes the rest.
SWEEP_BATCH = 1000
PERCENT_ESCAPE = re.compile(r"%[0-9A-F]{2}")


# --- Dispatch ----------------------------------------------------------------


def dispatch_event(event):
    """Create a pending delivery for each active webhook of the account that the event fires (see matching_rules).

    Call it inside the transaction that records the event. The deliveries
    are rendered and enqueued after that transaction commits. Returns them.
    """
    if event.details.get("interface") in SILENT_INTERFACES:
        return []

    matching = matching_rules(Webhook, event)
    if not matching:
        return []

    now = timezone.now()
    deliveries = [
        WebhookDelivery.objects.create(webhook=webhook, event=event, next_attempt_at=now) for webhook in matching
    ]
    ids = [delivery.pk for delivery in deliveries]
    transaction.on_commit(lambda: _render_and_enqueue(ids), robust=True)
    return deliveries


def _render_and_enqueue(delivery_ids):
    for delivery in WebhookDelivery.objects.filter(pk__in=delivery_ids, rendered_at__isnull=True):
        render_delivery(delivery)
    _enqueue_all(delivery_ids)


def render_delivery(delivery):
    """Fill the placeholders of a delivery from its event and the recipient's committed data, and store the payload.

    claim_delivery calls it too, for a delivery whose process died between
    the commit and the rendering.
    """
    # NOTE: the values are the recipient's committed data when this runs, not
    # at the event, so a field or address changed later shows its new value.
    webhook = delivery.webhook
    event = delivery.event
    values = placeholder_values(event, webhook.event) if event else {}
    delivery.parameters = render_parameters(webhook.parameters, values)
    key = webhook.encryption_key
    delivery.payload = encrypt(delivery.parameters, key) if key else delivery.parameters
    delivery.rendered_at = timezone.now()
    delivery.save(update_fields=["parameters", "payload", "rendered_at"])


def placeholder_values(event, webhook_event):
    """Map each placeholder name, in lower case, to its value for this event."""
    recipient = event.recipient
    names = dict(event.account.field_definitions.values_list("field_id", "name"))
    values = field_values(recipient, names) if recipient else {}
    values.update(
        {
            "email": (recipient.email or "") if recipient else "",
            "eventdate": format_event_date(event.created_at),
            "idconsole": str(event.account.console_id),
            "idlist": str(event.list.list_id) if event.list else "",
            "idnl": str(event.message_id) if event.message_id else "",
            "eventtype": webhook_event,
            "eventsource": event.source,
            "reason": event.reason,
        }
    )
    return values


def format_event_date(moment):
    """Format a time as `yyyy-MM-ddTHH:mm:ss.fff+HH` in the server time zone, e.g. `2012-09-12T11:18:37.664+02`."""
    local = timezone.localtime(moment)
    offset_minutes = int(local.utcoffset().total_seconds() // 60)
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    # NOTE: MailUp documents whole-hour offsets only; zones such as +05:30 keep their minutes.
    offset = f"{sign}{hours:02d}" + (f":{minutes:02d}" if minutes else "")
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}{offset}"


def render_parameters(parameters, values):
    """Fill each `[name, template]` pair and join them as a query string with lower-case percent escapes.

    Placeholders match without regard to case; an unknown one stays as written.
    """

    def replace(match):
        value = values.get(match.group(1).lower())
        return match.group(0) if value is None else value

    pairs = [(name, MERGE_TAG.sub(replace, template)) for name, template in parameters]
    return "&".join(f"{percent_encode(name)}={percent_encode(value)}" for name, value in pairs)


def percent_encode(text):
    """Percent-encode UTF-8 text with lower-case hex, as MailUp's example calls show (`%40`, `%3a`)."""
    return PERCENT_ESCAPE.sub(lambda match: match.group(0).lower(), quote(text, safe=""))


def encrypt(parameters, key):
    """Return the RC4-encrypted, Base64-encoded and percent-encoded form of a parameter string.

    This is the single parameter name that the official Magento receiver
    Base64-decodes and decrypts with its "Webhook Crypt Key".
    """
    ciphertext = rc4(key.encode("utf-8"), parameters.encode("utf-8"))
    return percent_encode(base64.b64encode(ciphertext).decode("ascii"))


def rc4(key, data):
    """Encrypt or decrypt bytes with RC4.

    cryptography's ARC4 accepts only keys of 5 to 32 bytes in fixed sizes,
    and a Magento "Webhook Crypt Key" may have any length, so RC4 is
    written out here. Bytes of the key past the 256th are ignored, as in
    every RC4 key schedule.
    """
    state = list(range(256))
    j = 0
    for i in range(256):
        j = (j + state[i] + key[i % len(key)]) % 256
        state[i], state[j] = state[j], state[i]

    output = bytearray()
    i = j = 0
    for byte in data:
        i = (i + 1) % 256
        j = (j + state[i]) % 256
        state[i], state[j] = state[j], state[i]
        output.append(byte ^ state[(state[i] + state[j]) % 256])
    return bytes(output)


def _enqueue_all(delivery_ids):
    for delivery_id in delivery_ids:
        _enqueue(delivery_id)


def _enqueue(delivery_id):
    from integrations.tasks import deliver_webhook

    deliver_webhook.delay(delivery_id)


# --- Delivery ----------------------------------------------------------------


def claim_delivery(delivery_id):
    """Mark a due pending delivery as claimed by this worker, count the attempt and return the delivery.

    Returns None when the delivery is final, not due yet, or claimed by a
    worker that is still within CLAIM_TIMEOUT.
    """
    now = timezone.now()
    unclaimed = Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - CLAIM_TIMEOUT)
    claimed = WebhookDelivery.objects.filter(
        unclaimed, pk=delivery_id, status=Status.PENDING, next_attempt_at__lte=now
    ).update(claimed_at=now, attempts=F("attempts") + 1)
    if not claimed:
        return None

    delivery = WebhookDelivery.objects.select_related("webhook").get(pk=delivery_id)
    if delivery.rendered_at is None:
        render_delivery(delivery)
    return delivery


def attempt_delivery(delivery):
    """Send one claimed delivery, log the attempt, and mark it delivered, due again or failed."""
    webhook = delivery.webhook
    url, body = _request_target(webhook, delivery.payload)
    started_at = timezone.now()
    start = time.monotonic()
    status_code, error, response_text = _send(webhook.method, url, body, delivery.pk)
    duration_ms = int((time.monotonic() - start) * 1000)

    # PostgreSQL cannot store NUL, which a CRM may send in its body or status line.
    WebhookAttempt.objects.create(
        delivery=delivery,
        started_at=started_at,
        url=without_password(url),
        method=webhook.method,
        status_code=status_code,
        error=error.replace("\x00", "\ufffd"),
        duration_ms=duration_ms,
        response=response_text.replace("\x00", "\ufffd"),
    )
    if status_code is not None and 200 <= status_code < 300:
        _record_delivered(delivery)
    else:
        _record_failure(delivery, error or f"HTTP {status_code}")


def without_password(url):
    """Return `url` with the password of its user information replaced by `***`, for logs and inspection APIs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _request_target(webhook, payload):
    """Return the URL and the body of a call: GET puts the payload in the query string, POST in the body.

    A fragment of the configured URL is dropped, because no request carries
    one, and a payload appended after it would be lost with it.
    """
    url = webhook.url.partition("#")[0]
    if webhook.method == Webhook.Method.POST:
        return url, payload
    if not payload:
        return url, None
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}{payload}", None


def _send(method, url, body, delivery_id):
    """Make the HTTP request; return its status code, an error message and the start of the response body.

    http.client sends the URL exactly as given, whereas requests and urllib3
    rewrite percent escapes in upper case. Redirects are not followed,
    because only a 2xx response counts as delivered. The whole attempt,
    not just each socket read, ends after REQUEST_TIMEOUT_SECONDS, because
    a receiver that trickles its response would otherwise hold a Celery worker
    that campaign deliveries share for hours.
    """
    headers = {DELIVERY_ID_HEADER: str(delivery_id)}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        parts = urlsplit(url)
        if parts.username:
            credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode("utf-8")
            headers["Authorization"] = "Basic " + base64.b64encode(credentials).decode("ascii")
        connection_class = HTTPSConnection if parts.scheme == "https" else HTTPConnection
        connection = connection_class(parts.hostname, parts.port, timeout=REQUEST_TIMEOUT_SECONDS)
    except ValueError as error:
        return None, f"{type(error).__name__}: {error}"[:MAX_RESPONSE_CHARS], ""

    # The configured URL may have non-ASCII characters in its path or query,
    # which an HTTP request line carries only percent-encoded as UTF-8.
    target = iri_to_uri((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
    timed_out = f"TimeoutError: timed out after {REQUEST_TIMEOUT_SECONDS} seconds without a complete response"
    deadline = _AttemptDeadline(connection, REQUEST_TIMEOUT_SECONDS)
    try:
        with deadline:
            connection.request(method, target, body=body.encode("ascii") if body is not None else None, headers=headers)
            response = connection.getresponse()
            # http.client takes the end of the stream for the end of the headers, so headers
            # cut short by the deadline would otherwise pass for a complete response.
            if deadline.expired:
                return None, timed_out, ""
            return response.status, "", _decode_start(response, _read_start(response))
    except (OSError, HTTPException, ValueError) as error:
        if deadline.expired:
            return None, timed_out, ""
        return None, f"{type(error).__name__}: {error}"[:MAX_RESPONSE_CHARS], ""
    finally:
        connection.close()


class _AttemptDeadline:
    """Shut down a connection's socket once `seconds` have passed, whatever call is blocked on it.

    A socket timeout bounds each read, so a receiver that sends one byte
    per read would pass it indefinitely. Shutting the socket down makes the
    blocked call return at once.
    """

    def __init__(self, connection, seconds):
        self.expired = False
        self._connection = connection
        self._seconds = seconds
        self._finished = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="webhook-deadline", daemon=True)

    def __enter__(self):
        self._watcher.start()
        return self

    def __exit__(self, *exc_info):
        self._finished.set()
        self._watcher.join()

    def _watch(self):
        if self._finished.wait(self._seconds):
            return
        self.expired = True
        # The socket exists only once connect() has started, which has its own timeout.
        while not self._finished.is_set():
            sock = self._connection.sock
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            self._finished.wait(0.05)


def _read_start(response):
    """Read up to the bytes the attempt log keeps; a body cut short by the deadline keeps what arrived."""
    # Four bytes per character covers any UTF-8 text.
    limit = MAX_RESPONSE_CHARS * 4
    chunks = []
    received = 0
    while received < limit:
        try:
            chunk = response.read1(limit - received)
        except (OSError, HTTPException):
            break
        if not chunk:
            break
        chunks.append(chunk)
        received += len(chunk)
    return b"".join(chunks)


def _decode_start(response, data):
    """Decode the start of a response body in its declared charset, or UTF-8 when that is missing or unknown."""
    charset = response.headers.get_content_charset() or "utf-8"
    try:
        text = data.decode(charset, errors="replace")
    except (LookupError, ValueError):
        # A charset name with a NUL character raises ValueError.
        text = data.decode("utf-8", errors="replace")
    return text[:MAX_RESPONSE_CHARS]


def _record_delivered(delivery):
    WebhookDelivery.objects.filter(pk=delivery.pk, status=Status.PENDING).update(
        status=Status.DELIVERED, delivered_at=timezone.now(), claimed_at=None
    )
    logger.info(
        "webhook delivered delivery=%s webhook=%s attempts=%s", delivery.pk, delivery.webhook_id, delivery.attempts
    )


def _record_failure(delivery, error):
    """Make the delivery due again after its back-off, or mark it failed after the last attempt."""
    if delivery.attempts >= MAX_ATTEMPTS:
        WebhookDelivery.objects.filter(pk=delivery.pk, status=Status.PENDING).update(
            status=Status.FAILED, claimed_at=None
        )
        logger.warning("webhook failed delivery=%s attempts=%s error=%s", delivery.pk, delivery.attempts, error)
        return

    delay = timedelta(minutes=2 ** (delivery.attempts - 1))
    WebhookDelivery.objects.filter(pk=delivery.pk, status=Status.PENDING).update(
        next_attempt_at=timezone.now() + delay, claimed_at=None
    )
    logger.info(
        "webhook attempt failed delivery=%s attempts=%s retry_in=%s error=%s",
        delivery.pk,
        delivery.attempts,
        delay,
        error,
    )


def sweep_webhook_deliveries():
    """Enqueue every pending delivery that is due: a retry, one lost by the broker, or one left by a dead worker.

    Returns how many were enqueued. Enqueuing twice is harmless because a
    task sends only a delivery it manages to claim.
    """
    now = timezone.now()
    unclaimed = Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - CLAIM_TIMEOUT)
    due = WebhookDelivery.objects.filter(unclaimed, status=Status.PENDING, next_attempt_at__lte=now)
    ids = list(due.values_list("pk", flat=True)[:SWEEP_BATCH])
    _enqueue_all(ids)
    if ids:
        logger.info("sweep enqueued webhook deliveries=%s", len(ids))
    return len(ids)


def replay_webhook_delivery(delivery_id):
    """Make a failed delivery pending again with a fresh set of attempts, and enqueue it after commit.

    Returns False, changing nothing, when the delivery is not failed.
    Earlier attempts stay in the log.
    """
    with transaction.atomic():
        reset = WebhookDelivery.objects.filter(pk=delivery_id, status=Status.FAILED).update(
            status=Status.PENDING, attempts=0, next_attempt_at=timezone.now(), claimed_at=None
        )
        if reset:
            transaction.on_commit(lambda: _enqueue(delivery_id), robust=True)
    logger.info("webhook replay delivery=%s reset=%s", delivery_id, bool(reset))
    return bool(reset)
