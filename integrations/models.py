"""Batch FTP: each account's FTP login and settings, uploaded import files and unsubscriber exports."""

import datetime

from django.contrib.auth.hashers import check_password, make_password
from django.db import models

DEFAULT_EXPORT_TIME = datetime.time(2, 0)


class FtpAccount(models.Model):
    """The FTP login `ftp<console id>` of an account and its batch-file settings.

    FTP sends passwords in clear text, so this login has its own password
    instead of reusing the web-service user's.
    """

    account = models.OneToOneField("lists.Account", on_delete=models.CASCADE, related_name="ftp")
    password = models.CharField(max_length=128, help_text="Hashed FTP password.")
    full_import = models.BooleanField(
        default=False,
        help_text="Treat every uploaded file as a full file, as a full_ name prefix does for one file.",
    )
    export_time = models.TimeField(
        default=DEFAULT_EXPORT_TIME, help_text="Server time at which the nightly unsubscriber export runs."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.username

    @property
    def username(self):
        return f"ftp{self.account.console_id}"

    def set_password(self, raw_password):
        self.password = make_password(raw_password)

    def check_password(self, raw_password):
        return check_password(raw_password, self.password)


class ImportFile(models.Model):
    """One upload into `import/<listId>/`, with its content hash, progress and counts."""

    class Status(models.TextChoices):
        RECEIVED = "received", "received"
        RUNNING = "running", "running"
        DONE = "done", "done"
        DUPLICATE = "duplicate", "duplicate"
        REJECTED = "rejected", "rejected"
        FAILED = "failed", "failed"
        SUPERSEDED = "superseded", "superseded"

    account = models.ForeignKey("lists.Account", on_delete=models.CASCADE, related_name="import_files")
    list = models.ForeignKey("lists.List", on_delete=models.CASCADE, related_name="import_files")
    name = models.CharField(max_length=255)
    path = models.CharField(max_length=1024, help_text="Absolute path of the upload on the server.")
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    full = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    unsubscribed_absent = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    report_name = models.CharField(max_length=255, blank=True)
    done_name = models.CharField(max_length=255, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["list", "sha256"])]

    def __str__(self):
        return f"{self.name} into {self.list_id}: {self.status}"


class UnsubscribeExport(models.Model):
    """One run of the unsubscriber export of a list: it wrote the opt-outs after `since` up to `until`."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "schedule"
        MANUAL = "manual", "manual"

    list = models.ForeignKey("lists.List", on_delete=models.CASCADE, related_name="unsubscribe_exports")
    since = models.DateTimeField(null=True, blank=True)
    until = models.DateTimeField()
    trigger = models.CharField(max_length=8, choices=Trigger.choices)
    file_name = models.CharField(max_length=255)
    rows = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["list", "until"])]

    def __str__(self):
        return f"{self.file_name} ({self.rows} rows)"
