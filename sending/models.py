"""Outgoing system mail and the messages captured by the SMTP sink."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from lists.models import LANGUAGE_CHOICES, Account, List, Recipient


class SystemMail(models.Model):
    """A confirmation request, welcome or unsubscribe confirmation, stored before it is sent.

    The row is the outbox: a task claims it, sends it and records the
    outcome, and the beat sweep re-queues rows that a dead worker left behind.
    """

    class Kind(models.TextChoices):
        CONFIRMATION_REQUEST = "confirmation_request", _("confirmation request")
        WELCOME = "welcome", _("welcome message")
        UNSUBSCRIBE_CONFIRMATION = "unsubscribe_confirmation", _("unsubscribe confirmation")

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        SENDING = "sending", _("sending")
        DEFERRED = "deferred", _("deferred")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="system_mails")
    list = models.ForeignKey(List, on_delete=models.CASCADE, related_name="system_mails")
    recipient = models.ForeignKey(Recipient, on_delete=models.CASCADE, related_name="system_mails")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    to_email = models.CharField(max_length=254)
    from_email = models.CharField(max_length=254, blank=True, help_text=_("Overrides the list sender when set."))
    from_name = models.CharField(max_length=200, blank=True)
    language = models.CharField(max_length=2, choices=LANGUAGE_CHOICES)
    context = models.JSONField(default=dict, blank=True, help_text=_("Values the template needs, such as a link."))

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

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.id} {self.subject[:60]}"
