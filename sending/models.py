"""Outgoing mail (system mail and campaigns), DKIM keys and the messages captured by the SMTP sink."""

import builtins

from django.contrib.auth.hashers import check_password, make_password
from django.db import models, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from lists.models import LANGUAGE_CHOICES, Account, Group, List, Recipient


class SystemMail(models.Model):
    """A confirmation request, welcome, unsubscribe confirmation or trial activation link, stored before it is sent.

    The row is the outbox: a task claims it, sends it and records the
    outcome, and the beat sweep re-queues rows that a dead worker left behind.
    The platform sends a trial activation before any console exists, so it
    has no account, list or recipient. Every other kind has all three.
    """

    class Kind(models.TextChoices):
        CONFIRMATION_REQUEST = "confirmation_request", _("confirmation request")
        WELCOME = "welcome", _("welcome message")
        UNSUBSCRIBE_CONFIRMATION = "unsubscribe_confirmation", _("unsubscribe confirmation")
        TRIAL_ACTIVATION = "trial_activation", _("trial console activation")

    class Status(models.TextChoices):
        # Held in a confirmation sending until that sending is started.
        HELD = "held", _("held")
        QUEUED = "queued", _("queued")
        SENDING = "sending", _("sending")
        DEFERRED = "deferred", _("deferred")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")

    account = models.ForeignKey(Account, on_delete=models.CASCADE, null=True, blank=True, related_name="system_mails")
    list = models.ForeignKey(List, on_delete=models.CASCADE, null=True, blank=True, related_name="system_mails")
    recipient = models.ForeignKey(
        Recipient, on_delete=models.CASCADE, null=True, blank=True, related_name="system_mails"
    )
    kind = models.CharField(max_length=24, choices=Kind.choices)
    to_email = models.CharField(max_length=254)
    from_email = models.CharField(max_length=254, blank=True, help_text=_("Overrides the list sender when set."))
    from_name = models.CharField(max_length=200, blank=True)
    language = models.CharField(max_length=2, choices=LANGUAGE_CHOICES)
    context = models.JSONField(default=dict, blank=True, help_text=_("Values the template needs, such as a link."))
    # The confirmation sending that carries this request, for a REST import's requests.
    sending = models.ForeignKey("Sending", on_delete=models.CASCADE, null=True, blank=True, related_name="system_mails")

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    message_id = models.CharField(max_length=250, blank=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="trial_activation")
                | Q(account__isnull=False, list__isnull=False, recipient__isnull=False),
                name="system_mail_of_a_list_recipient",
            )
        ]

    def __str__(self):
        return f"{self.kind} to {self.to_email} ({self.status})"


class SinkMessage(models.Model):
    """A message the sink accepted, exactly as it arrived."""

    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    peer_ip = models.GenericIPAddressField()
    peer_port = models.PositiveIntegerField()
    helo = models.CharField(max_length=255, blank=True)
    mail_from = models.CharField(max_length=512, blank=True)
    rcpt_to = models.JSONField(default=list)
    # Lower-cased, newline-separated copy of rcpt_to for substring filters on
    # every database (SQLite has no JSON containment lookup).
    rcpt_search = models.TextField(blank=True)
    subject = models.TextField(blank=True)
    from_header = models.TextField(blank=True)
    to_header = models.TextField(blank=True)
    message_id = models.CharField(max_length=512, blank=True)
    account_console_id = models.PositiveIntegerField(null=True, blank=True)
    list_id = models.PositiveIntegerField(null=True, blank=True)
    sending_id = models.PositiveIntegerField(null=True, blank=True)
    size = models.PositiveIntegerField()
    raw = models.BinaryField()
    # The sink's DKIM check: "pass" when at least one signature verifies,
    # "fail" when signatures exist and none verifies, "none" without any.
    dkim_result = models.CharField(max_length=4, blank=True)
    dkim_domain = models.CharField(max_length=253, blank=True)
    dkim_reason = models.TextField(blank=True)
    # One entry per DKIM-Signature header: domain, selector, algorithm, result, reason.
    dkim_signatures = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.id} {self.subject[:60]}"


class DkimKey(models.Model):
    """A DKIM private key and the selector that publishes its public half.

    A key with an account signs that account's mail for its lists' sender
    domains. A key without one is the platform's own and signs the mail the
    platform sends for itself, for the domain of PLATFORM_MAIL_FROM.
    The platform never edits a row. A new key is a new row, so a signature
    can be checked against the key that made it.
    """

    class Algorithm(models.TextChoices):
        RSA_SHA256 = "rsa-sha256", "RSA-SHA256"
        ED25519_SHA256 = "ed25519-sha256", "Ed25519-SHA256"

    # Null for a key of the platform itself.
    account = models.ForeignKey(Account, on_delete=models.CASCADE, null=True, blank=True, related_name="dkim_keys")
    algorithm = models.CharField(max_length=16, choices=Algorithm.choices)
    selector = models.CharField(max_length=63, unique=True)
    # PKCS#8 PEM, never shown or logged by the platform.
    private_key = models.TextField()
    # Base64 value of the p= tag of the DNS record.
    public_key = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["account", "algorithm"]
        constraints = [
            models.UniqueConstraint(fields=["account", "algorithm"], name="unique_dkim_key_per_algorithm"),
            # The constraint above treats NULL accounts as distinct, so the
            # platform's keys need their own: one per algorithm.
            models.UniqueConstraint(
                fields=["algorithm"], condition=models.Q(account__isnull=True), name="unique_platform_dkim_key_per_algorithm"
            ),
        ]

    def __str__(self):
        owner = self.account_id if self.account_id is not None else "the platform"
        return f"{self.selector} ({self.algorithm}) of {owner}"

    @property
    def key_type(self):
        """The k= tag of the DNS record."""
        return "rsa" if self.algorithm == self.Algorithm.RSA_SHA256 else "ed25519"


class Message(models.Model):
    """A newsletter of a list; its primary key is the idMessage (idNL) that clients and links carry."""

    list = models.ForeignKey(List, on_delete=models.CASCADE, related_name="messages")
    subject = models.CharField(max_length=500)
    html = models.TextField(blank=True)
    # Plain-text part; services.create_message generates it from the HTML
    # when none is given.
    text = models.TextField(blank=True)
    # Preview text that mail clients show after the subject.
    preheader = models.CharField(max_length=300, blank=True)
    # builtins.list, because the `list` field above hides the built-in name here.
    # The names of the list's Tag rows that label this message.
    tags = models.JSONField(default=builtins.list, blank=True)
    # With tracking on, links become click redirects and an open pixel is
    # added; with it off, the message carries neither.
    tracking = models.BooleanField(default=True)
    # Query string appended to tracked links (TrackingInfo.CustomParams) and
    # the link schemes that are tracked (TrackingInfo.Protocols).
    tracking_params = models.CharField(max_length=500, blank=True)
    tracking_protocols = models.JSONField(default=builtins.list, blank=True)
    # Free text for the account's own use (the `note` option of the SOAP
    # services, the Notes of REST).
    note = models.TextField(blank=True)
    # Embed images in the message instead of linking them.
    embed = models.BooleanField(default=False)
    is_confirmation = models.BooleanField(default=False)
    use_dynamic_fields = models.BooleanField(default=False)
    # Field values the message sets for merge tags ([{"Id","Value"}, …]), as the client sent them.
    fields = models.JSONField(default=builtins.list, blank=True)
    # Published in the list's online archive (Online/Visibility).
    visible_online = models.BooleanField(default=False)
    # Groups transactional sends under one message, as MailUp does with
    # X-SMTPAPI CampaignCode; empty for newsletters.
    campaign_code = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.pk} {self.subject[:60]}"


class Tag(models.Model):
    """A label of a list that messages carry by name."""

    list = models.ForeignKey(List, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["list", "name"], name="unique_tag_name_per_list")]

    def __str__(self):
        return self.name


class Template(models.Model):
    """A message template of an account, offered to every list of it."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="templates")
    title = models.CharField(max_length=200)
    html = models.TextField()
    text = models.TextField(blank=True)
    # URL of a preview image, or empty.
    thumbnail = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.title


class Image(models.Model):
    """An image uploaded to the account's library, or to one list's library when `list` is set."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="images")
    list = models.ForeignKey(List, on_delete=models.CASCADE, null=True, blank=True, related_name="images")
    name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    data = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.name


class Attachment(models.Model):
    """A file sent with every delivery of a message, as a MIME part of its own.

    Each file sits in a numbered slot of its message, as in MailUp's console
    and REST API. Deliveries carry the files in slot order.
    """

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    # 1 to services.MESSAGE_ATTACHMENT_SLOTS. NOTE: a message that had more files
    # before slots existed keeps the extra ones in slots 6 and up, which REST cannot delete.
    slot = models.PositiveSmallIntegerField()
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=127)
    file = models.FileField(upload_to="attachments/%Y/%m/")
    size = models.PositiveIntegerField(help_text=_("Size of the file in bytes."))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slot"]
        constraints = [
            models.UniqueConstraint(fields=["message", "slot"], name="attachment_slot_unique"),
            models.CheckConstraint(condition=models.Q(slot__gte=1), name="attachment_slot_positive"),
        ]

    def __str__(self):
        return f"{self.filename} in slot {self.slot} of message {self.message_id}"


@receiver(post_delete, sender=Attachment)
def delete_attachment_file(sender, instance, **kwargs):
    """Delete an attachment's stored file once the deletion of its row commits.

    Rows also go when their message or list is deleted, so the file is
    removed here rather than by each caller; a rollback keeps both.
    """
    name, storage = instance.file.name, instance.file.storage
    if name:
        transaction.on_commit(lambda: storage.delete(name), robust=True)


class SavedFilter(models.Model):
    """Conditions on recipient fields and subscription status, stored per list and used as a sending target.

    `conditions` is a list of objects, each either
    `{"field": "campo3" | "email" | "mobile", "operator": ..., "value": ...}`
    or `{"status": "subscribed" | "pending" | "unsubscribed"}`. The
    `sending.filters` module validates them and turns them into a query.
    """

    class Match(models.TextChoices):
        ALL = "all", _("all conditions (AND)")
        ANY = "any", _("any condition (OR)")

    list = models.ForeignKey(List, on_delete=models.CASCADE, related_name="saved_filters")
    name = models.CharField(max_length=200)
    match = models.CharField(max_length=3, choices=Match.choices, default=Match.ALL)
    conditions = models.JSONField(default=builtins.list)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["list", "name"], name="unique_filter_name_per_list")]

    def __str__(self):
        return f"{self.name} ({self.match}, {len(self.conditions)} conditions)"


class SmtpUser(models.Model):
    """An SMTP+ user (`s` + digits + `_` + digits) that sends transactional mail for one list."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="smtp_users")
    list = models.ForeignKey(List, on_delete=models.CASCADE, related_name="smtp_users")
    username = models.CharField(max_length=32, unique=True)
    # Hashed with Django's password hashers; the secret never expires.
    password = models.CharField(max_length=128)
    active = models.BooleanField(default=True)
    note = models.CharField(max_length=500, blank=True)
    # MailUp's SmtpPlusPriorities code, 1 (VeryHigh) to 5 (VeryLow). It is
    # stored and returned, but the relay does not order deliveries by it.
    priority = models.PositiveSmallIntegerField(default=3)
    # Lower-case domains and addresses the user may send from; both empty
    # means any sender. See sending.transactional.check_trusted_sender.
    trusted_domains = models.JSONField(default=builtins.list, blank=True)
    trusted_senders = models.JSONField(default=builtins.list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.username} for list {self.list_id}"

    def set_password(self, raw_password):
        self.password = make_password(raw_password)

    def check_password(self, raw_password):
        return check_password(raw_password, self.password)


class Sending(models.Model):
    """One send of a message to a target, immediate or scheduled.

    The target is the whole list, narrowed to `groups` when any are given,
    minus the members of `excluded_groups`, narrowed again to recipients
    matching every one of `filters`, or only `recipients` when any are
    given. Only subscribed e-mail subscriptions of the list receive a
    campaign. A transactional sending carries its finished MIME message in
    `raw_message` and goes to its deliveries' addresses, subscribed or not.
    """

    class Kind(models.TextChoices):
        CAMPAIGN = "campaign", _("newsletter")
        TRANSACTIONAL = "transactional", _("transactional")
        # Carries the confirmation requests of a REST import as held
        # SystemMails; starting it releases them instead of fanning out.
        CONFIRMATION = "confirmation", _("confirmation requests")

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("scheduled")
        QUEUED = "queued", _("queued")
        PREPARING = "preparing", _("preparing")
        SENDING = "sending", _("sending")
        # Paused and cancelled sendings have their deliveries neither claimed
        # nor swept; see sending.services.pause_sending and stop_sending.
        PAUSED = "paused", _("paused")
        DONE = "done", _("done")
        CANCELLED = "cancelled", _("stopped")

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="sendings")
    list = models.ForeignKey(List, on_delete=models.CASCADE, related_name="sendings")
    groups = models.ManyToManyField(Group, blank=True, related_name="+")
    excluded_groups = models.ManyToManyField(Group, blank=True, related_name="+")
    recipients = models.ManyToManyField(Recipient, blank=True, related_name="+")
    filters = models.ManyToManyField(SavedFilter, blank=True, related_name="sendings")
    # Whether a recipient must match every one of `filters` or any of them.
    filters_match = models.CharField(max_length=3, choices=SavedFilter.Match.choices, default=SavedFilter.Match.ALL)
    kind = models.CharField(max_length=13, choices=Kind.choices, default=Kind.CAMPAIGN)
    # The unsigned message of a transactional sending, as the API call or
    # SMTP+ client gave it; each delivery gets its own headers and signature.
    raw_message = models.BinaryField(null=True, blank=True)
    smtp_user = models.ForeignKey(SmtpUser, on_delete=models.SET_NULL, null=True, blank=True, related_name="sendings")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    # Sender of this sending only (SOAP's sender options, the SenderName and
    # SenderAddress of a REST send); empty values mean the list's sender.
    from_email = models.CharField(max_length=254, blank=True)
    from_name = models.CharField(max_length=200, blank=True)
    # Set when a worker starts creating the deliveries; a stale value means
    # that worker died and another may take the fan-out over.
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    prepared_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "scheduled_at"])]

    def __str__(self):
        return f"sending {self.pk} of message {self.message_id} ({self.status})"


class Delivery(models.Model):
    """One recipient of a sending, stored before anything is sent.

    `delivered` means the next hop replied 250. `failed` covers a 5xx
    reply, a message that could not be rendered, a recipient who left the
    list before the attempt, and temporary failures that outlasted the
    retry window. `bounced` is for a DSN that arrives later.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        SENDING = "sending", _("sending")
        DEFERRED = "deferred", _("deferred")
        DELIVERED = "delivered", _("delivered")
        BOUNCED = "bounced", _("bounced")
        FAILED = "failed", _("failed")

    sending = models.ForeignKey(Sending, on_delete=models.CASCADE, related_name="deliveries")
    recipient = models.ForeignKey(Recipient, on_delete=models.CASCADE, related_name="deliveries")
    to_email = models.CharField(max_length=254)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    # Key of the Isp the relay routed the last attempt as ("other" when no
    # Isp matched); empty until the first attempt.
    isp = models.CharField(max_length=32, blank=True)
    message_id = models.CharField(max_length=250, blank=True)
    smtp_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["sending", "recipient"], name="unique_delivery_per_recipient")]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            # Covers every column that sending.statistics.sending_breakdown reads, in its grouping order.
            models.Index(
                fields=["sending", "status", "source_ip", "isp", "delivered_at", "attempts", "smtp_code", "recipient"],
                name="delivery_breakdown",
            ),
            models.Index(fields=["status", "claimed_at"], condition=Q(status="sending"), name="delivery_in_flight"),
        ]

    def __str__(self):
        return f"delivery {self.pk} to {self.to_email} ({self.status})"


class DeliveryAttempt(models.Model):
    """One try at handing a delivery to the next hop, with the reply and how long it took."""

    class Outcome(models.TextChoices):
        DELIVERED = "delivered", "delivered"
        DEFERRED = "deferred", "deferred"
        FAILED = "failed", "failed"

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    isp = models.CharField(max_length=32, blank=True)
    smtp_code = models.PositiveSmallIntegerField(null=True, blank=True)
    # The next hop's reply or the local error, cut to 500 characters.
    response = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"attempt {self.number} of delivery {self.delivery_id}: {self.outcome}"


class Isp(models.Model):
    """A mailbox provider that the relay routes by its own rules, recognised by the recipient's domain or its MX hosts.

    Deliveries store the key, not a foreign key, so statistics keep their
    ISP after the row is renamed or deleted.
    """

    key = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=100)
    # Shell-style patterns such as "gmail.test" or "*.gmail.test", matched
    # against the recipient's domain.
    domains = models.JSONField(default=list, blank=True)
    # Shell-style patterns such as "*.google.test", matched against the MX
    # hosts of the recipient's domain in the built-in DNS zone.
    mx_hosts = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["key"]

    def __str__(self):
        return self.name


class SinkRule(models.Model):
    """A behaviour of the simulated internet for the recipients that match a pattern.

    The sink applies the active rule with the lowest `priority` whose
    pattern matches the lower-cased recipient address. A pattern is a shell
    glob on the whole address (`*@gmail.test`, `vip-*@example.com`) or a
    bare domain (`gmail.test`). Without a matching rule the magic local
    parts of `sending.sink_rules` apply, then plain acceptance.
    """

    class Behaviour(models.TextChoices):
        ACCEPT = "accept", "accept"
        DEFER = "defer", "answer 4xx at RCPT"
        REJECT = "reject", "answer 5xx at RCPT"
        DISCONNECT = "disconnect", "drop the connection at RCPT"
        SLOW = "slow", "answer RCPT after a delay"
        BOUNCE = "bounce", "accept, then send a DSN"
        COMPLAINT = "complaint", "accept, then send an ARF complaint"
        AUTO_REPLY = "auto_reply", "accept, then send an auto-reply"

    pattern = models.CharField(max_length=254)
    behaviour = models.CharField(max_length=10, choices=Behaviour.choices)
    # SMTP reply of defer and reject, and the status that a DSN reports.
    smtp_code = models.PositiveSmallIntegerField(null=True, blank=True)
    enhanced_status = models.CharField(max_length=12, blank=True)
    message = models.CharField(max_length=300, blank=True)
    # Seconds a slow reply waits; seconds before a report is sent (empty: SINK_REPORT_DELAY_SECONDS).
    delay_seconds = models.PositiveIntegerField(null=True, blank=True)
    priority = models.IntegerField(default=100)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["priority", "id"]

    def __str__(self):
        return f"{self.pattern}: {self.behaviour}"


class InboundMessage(models.Model):
    """A message that reached the inbound MX, stored before it is read, with the verdict and what it changed."""

    class Status(models.TextChoices):
        RECEIVED = "received", "received"
        PROCESSING = "processing", "processing"
        PROCESSED = "processed", "processed"
        FAILED = "failed", "failed"

    class Verdict(models.TextChoices):
        HARD_BOUNCE = "hard_bounce", "hard bounce"
        SOFT_BOUNCE = "soft_bounce", "soft bounce"
        COMPLAINT = "complaint", "complaint"
        AUTO_REPLY = "auto_reply", "auto-reply"
        DELIVERED = "delivered", "delivery report"
        UNSUBSCRIBE = "unsubscribe", "List-Unsubscribe mailto"
        UNKNOWN = "unknown", "not a report"

    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    peer_ip = models.GenericIPAddressField()
    mail_from = models.CharField(max_length=512, blank=True)
    rcpt_to = models.JSONField(default=list)
    subject = models.TextField(blank=True)
    size = models.PositiveIntegerField()
    raw = models.BinaryField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    verdict = models.CharField(max_length=12, choices=Verdict.choices, blank=True)
    # Failed recipients as parsed, the reason code applied and the lists changed.
    details = models.JSONField(default=dict, blank=True)
    account = models.ForeignKey(Account, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    recipient = models.ForeignKey(Recipient, on_delete=models.SET_NULL, null=True, blank=True, related_name="inbound_reports")
    delivery = models.ForeignKey(Delivery, on_delete=models.SET_NULL, null=True, blank=True, related_name="reports")
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["recipient", "verdict", "received_at"])]

    def __str__(self):
        return f"inbound {self.pk}: {self.verdict or self.status}"


class SmsMessage(models.Model):
    """A text message of a list; its primary key is the idMessage of the SMS calls."""

    list = models.ForeignKey(List, on_delete=models.CASCADE, related_name="sms_messages")
    subject = models.CharField(max_length=200, blank=True)
    text = models.TextField()
    notes = models.TextField(blank=True)
    # The CampaignCode under which the transactional SMS API groups its
    # sends, or "" for its sends without one. Messages made in the console
    # or over REST have null.
    campaign_code = models.CharField(max_length=200, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["list", "campaign_code"],
                condition=Q(campaign_code__isnull=False),
                name="unique_sms_campaign_code_per_list",
            )
        ]

    def __str__(self):
        return f"sms {self.pk} {self.subject[:60]}"


class SmsSending(models.Model):
    """One send of an SMS message to a list, a group or one number, at once or at its scheduled time.

    A scheduled, paused or failed sending is an entry of the SMS queue:
    MailupSend calls its id both deliveryID and scheduleID. sending.sms_queue
    sends it when due, unless the console stopped its SMS queue
    (SmsQueueStop), and retries a failed send a bounded number of times.
    """

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("scheduled")
        # Taken out of the queue without being deleted. It waits without a
        # start time until it is scheduled again.
        PAUSED = "paused", _("paused")
        DONE = "done", _("done")
        # Every attempt of a scheduled send failed. It keeps its start time
        # and `last_error`, and waits until it is scheduled again or deleted.
        FAILED = "failed", _("failed")

    message = models.ForeignKey(SmsMessage, on_delete=models.CASCADE, related_name="sendings")
    list = models.ForeignKey(List, on_delete=models.CASCADE, related_name="sms_sendings")
    group = models.ForeignKey(Group, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DONE)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    sent = models.PositiveIntegerField(default=0)
    # Failed attempts of a scheduled send since it was last scheduled; the
    # next one waits until `next_attempt_at`.
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "scheduled_at"])]

    def __str__(self):
        return f"sms sending {self.pk} of message {self.message_id}"


class SinkSms(models.Model):
    """A text message the platform handed to its SMS sink instead of a carrier; no SMS leaves the machine."""

    sending = models.ForeignKey(SmsSending, on_delete=models.CASCADE, related_name="sink_messages")
    recipient = models.ForeignKey(Recipient, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    account_console_id = models.PositiveIntegerField()
    list_id = models.PositiveIntegerField()
    # International number as 00 + country code + number, such as 00393331234567.
    number = models.CharField(max_length=30)
    # Alphanumeric sender shown on the phone; empty when the send named none.
    sender = models.CharField(max_length=11, blank=True)
    text = models.TextField()
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"sms to {self.number}"


class SmsQueueStop(models.Model):
    """A console whose SMS queue StopDeliverySMS stopped. Its due SMS sendings wait until StartDeliverySMS deletes the row."""

    account = models.OneToOneField(Account, on_delete=models.CASCADE, related_name="sms_queue_stop")
    stopped_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"sms queue of console {self.account_id} stopped"


class IpPool(models.Model):
    """A named set of source addresses that ISP rules send from."""

    name = models.SlugField(max_length=50, unique=True)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class SourceIp(models.Model):
    """A source address of a pool, in 127.0.0.0/8 so the simulated internet stays on loopback."""

    pool = models.ForeignKey(IpPool, on_delete=models.CASCADE, related_name="addresses")
    address = models.GenericIPAddressField(protocol="IPv4", unique=True)
    # An inactive address keeps its statistics but sends nothing.
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["pool", "address"]

    def __str__(self):
        return self.address


class WarmupSchedule(models.Model):
    """How many messages per hour one source IP may send to an ISP on each day of its warm-up."""

    name = models.CharField(max_length=100, unique=True)
    # Messages per hour per source IP on day 1, 2, ... of the warm-up. From
    # the day after the last entry the schedule no longer limits.
    hourly_limits = models.JSONField(default=list)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def hourly_limit_on(self, day_index):
        """Return the limit for the day `day_index` (0 is the first day), or None once the schedule has ended."""
        if day_index >= len(self.hourly_limits):
            return None
        return self.hourly_limits[max(day_index, 0)]


class IspRule(models.Model):
    """How the relay sends to one ISP (or to every ISP when `isp` is empty): pool, limits, warm-up and validity.

    At send time the relay takes the active rule of the recipient's ISP
    whose dates, weekdays and hours contain the current local time, the
    highest priority first; a rule without an ISP applies when no rule of
    the recipient's ISP does. Every limit counts per source IP.
    """

    name = models.CharField(max_length=100)
    isp = models.ForeignKey(Isp, null=True, blank=True, on_delete=models.CASCADE, related_name="rules")
    pool = models.ForeignKey(IpPool, on_delete=models.PROTECT, related_name="rules")
    priority = models.IntegerField(default=0)
    active = models.BooleanField(default=True)

    # Validity: every empty field matches any time. Hours are local hours
    # (TIME_ZONE) from hour_from up to but not including hour_until, and a
    # window such as 22 to 6 passes midnight.
    valid_from = models.DateField(null=True, blank=True)
    valid_until = models.DateField(null=True, blank=True)
    # ISO weekdays, 1 for Monday to 7 for Sunday.
    weekdays = models.JSONField(default=list, blank=True)
    hour_from = models.PositiveSmallIntegerField(null=True, blank=True)
    hour_until = models.PositiveSmallIntegerField(null=True, blank=True)

    # Limits per source IP; empty means unlimited.
    max_per_hour = models.PositiveIntegerField(null=True, blank=True)
    max_connections = models.PositiveSmallIntegerField(null=True, blank=True)
    max_per_connection = models.PositiveIntegerField(null=True, blank=True)

    # With both set, the schedule's limit for the day counted from
    # warmup_started_on caps max_per_hour.
    warmup = models.ForeignKey(WarmupSchedule, null=True, blank=True, on_delete=models.PROTECT, related_name="rules")
    warmup_started_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["-priority", "id"]

    def __str__(self):
        return self.name


class RelayCounter(models.Model):
    """Messages sent from one source IP to one ISP in one hour, when no Redis counts them."""

    isp = models.CharField(max_length=32)
    source_ip = models.GenericIPAddressField()
    hour = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["isp", "source_ip", "hour"], name="unique_relay_counter")]


class RelayConnectionLease(models.Model):
    """One open SMTP connection from a source IP to an ISP, when no Redis counts them.

    A worker deletes its lease when it closes the connection. A killed
    worker's lease stops counting at `expires_at`.
    """

    isp = models.CharField(max_length=32)
    source_ip = models.GenericIPAddressField()
    token = models.CharField(max_length=32, unique=True)
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["isp", "source_ip", "expires_at"])]
class TrackedLink(models.Model):
    """A link of a message that click redirects may lead to, numbered in order of appearance.

    `url` is the link as written, merge tags included, so a click leads to
    the recipient's own version of it and no other address.
    """

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="tracked_links")
    number = models.PositiveIntegerField()
    url = models.TextField()

    class Meta:
        ordering = ["message", "number"]
        constraints = [models.UniqueConstraint(fields=["message", "number"], name="unique_link_number_per_message")]

    def __str__(self):
        return f"link {self.number} of message {self.message_id}: {self.url[:80]}"


class DeliveryEvent(models.Model):
    """Something that happened to a sent message: an open, a click, a bounce or a complaint.

    Unsubscribes are SubscriptionEvent rows of the lists app, which carry
    the message id.
    """

    class Kind(models.TextChoices):
        OPEN = "open", _("open")
        CLICK = "click", _("click")
        HARD_BOUNCE = "hard_bounce", _("hard bounce")
        SOFT_BOUNCE = "soft_bounce", _("soft bounce")
        COMPLAINT = "complaint", _("complaint")

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="events")
    # Copies of the delivery's sending and recipient, so statistics group
    # events without a join.
    sending = models.ForeignKey(Sending, on_delete=models.CASCADE, related_name="delivery_events")
    recipient = models.ForeignKey(Recipient, on_delete=models.CASCADE, related_name="delivery_events")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    link = models.ForeignKey(TrackedLink, on_delete=models.SET_NULL, null=True, blank=True, related_name="clicks")
    # The address a click redirected to, after merge tags were filled.
    url = models.TextField(blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["sending", "kind"]),
            models.Index(fields=["delivery", "kind"]),
            models.Index(fields=["recipient", "created_at"]),
        ]

    def __str__(self):
        return f"{self.kind} of delivery {self.delivery_id}"
