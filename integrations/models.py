"""Batch FTP (FTP logins, uploaded import files, unsubscriber exports), webhooks, post-operations and SSO codes."""

import datetime

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

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

    # The panel shows these labels on the import page, so they are translated.
    class Status(models.TextChoices):
        RECEIVED = "received", _("received")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        DUPLICATE = "duplicate", _("duplicate")
        REJECTED = "rejected", _("rejected")
        FAILED = "failed", _("failed")
        SUPERSEDED = "superseded", _("superseded")

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
    job = models.OneToOneField(
        "Import", on_delete=models.SET_NULL, null=True, blank=True, related_name="file", help_text="The engine's run."
    )
    received_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["list", "sha256"])]

    def __str__(self):
        return f"{self.name} into {self.list_id}: {self.status}"


class FtpTransfer(models.Model):
    """One file an FTP client uploaded or downloaded, completed or cut short, as `/sink/api/ftp` lists it."""

    class Direction(models.TextChoices):
        UPLOAD = "upload", "upload"
        DOWNLOAD = "download", "download"

    account = models.ForeignKey("lists.Account", on_delete=models.CASCADE, related_name="ftp_transfers")
    username = models.CharField(max_length=64)
    direction = models.CharField(max_length=8, choices=Direction.choices)
    path = models.CharField(max_length=1024, help_text="Path in the account's FTP home, as the client names it.")
    size = models.BigIntegerField(help_text="Bytes of the file on the server when the transfer ended.")
    completed = models.BooleanField()
    remote_ip = models.GenericIPAddressField()
    finished_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.direction} {self.path} ({self.size} bytes)"


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


class RuleEvent(models.TextChoices):
    """The events a webhook or post-operation reacts to. Subscribe covers both a direct subscription and a confirmation."""

    SUBSCRIBE = "Subscribe", "Subscribe"
    UNSUBSCRIBE = "Unsubscribe", "Unsubscribe"
    CHANGE_PROFILE = "Changeprofile", "Changeprofile"
    DELETE = "Delete", "Delete"


class EventRule(models.Model):
    """The trigger shared by webhooks and post-operations: an event, the sources it may come from, and lists.

    An empty `lists` matches events on every list of the account; otherwise
    only events on those lists match.
    """

    Event = RuleEvent

    account = models.ForeignKey("lists.Account", on_delete=models.CASCADE, related_name="%(class)ss")
    event = models.CharField(max_length=13, choices=RuleEvent.choices)
    sources = models.JSONField(
        default=list, help_text="Event sources that fire the rule: API, Console, Recipient, Import, Bounce, FBL."
    )
    lists = models.ManyToManyField(
        "lists.List", blank=True, related_name="+", help_text="Lists whose events fire the rule; empty means every list."
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ["id"]
        indexes = [models.Index(fields=["account", "event", "active"])]


class Webhook(EventRule):
    """A callback URL of an account, called when a recipient event of its kind comes from one of its sources.

    `parameters` is an ordered list of `[name, template]` pairs. A template
    contains placeholders such as `[email]`, `[nome]` or `[IdList]`. With an
    `encryption_key`, the parameter string is sent RC4-encrypted and
    Base64-encoded as the only parameter name.
    """

    class Method(models.TextChoices):
        GET = "GET", "GET"
        POST = "POST", "POST"

    method = models.CharField(max_length=4, choices=Method.choices, default=Method.GET)
    url = models.URLField(max_length=2000)
    parameters = models.JSONField(default=list, help_text="Ordered [name, template] pairs.")
    encryption_key = models.CharField(max_length=200, blank=True, help_text="RC4 key; empty sends plain parameters.")

    def __str__(self):
        return f"{self.event} {self.method} {self.url}"


class PostOperation(EventRule):
    """A list action run after a matching event: subscribe the recipient to some lists, unsubscribe it from others.

    The actions act on the channel of the triggering event with that
    event's source, so they fire webhooks and further post-operations of
    their own. A post-operation already run in the chain that caused an
    event does not run again for it, which stops loops.
    """

    subscribe_to = models.ManyToManyField("lists.List", blank=True, related_name="+")
    unsubscribe_from = models.ManyToManyField("lists.List", blank=True, related_name="+")

    def __str__(self):
        return f"post-operation {self.pk} on {self.event}"


class PostOperationRun(models.Model):
    """One run of a post-operation for one event, stored in the event's transaction and run after commit."""

    # The panel shows these labels in its post-operation log, so they are translated.
    class Status(models.TextChoices):
        PENDING = "pending", pgettext_lazy("task", "pending")
        DONE = "done", _("done")
        LOOP = "loop", _("loop")
        FAILED = "failed", _("failed")

    post_operation = models.ForeignKey(PostOperation, on_delete=models.CASCADE, related_name="runs")
    event = models.ForeignKey(
        "lists.SubscriptionEvent", on_delete=models.SET_NULL, null=True, blank=True, related_name="post_operation_runs"
    )
    chain = models.JSONField(
        default=list, help_text="Ids of the post-operations that ran, in order, to cause the triggering event."
    )
    status = models.CharField(max_length=7, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    outcomes = models.JSONField(default=list, blank=True, help_text="One {action, list, outcome} entry per target list.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self):
        return f"run {self.pk} of post-operation {self.post_operation_id}: {self.status}"


class WebhookDelivery(models.Model):
    """One call of a webhook for one event, stored before it is sent and retried until it succeeds or fails."""

    # The panel shows these labels in its webhook log, so they are translated.
    class Status(models.TextChoices):
        PENDING = "pending", pgettext_lazy("task", "pending")
        DELIVERED = "delivered", _("delivered")
        FAILED = "failed", _("failed")

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(
        "lists.SubscriptionEvent", on_delete=models.SET_NULL, null=True, blank=True, related_name="webhook_deliveries"
    )
    parameters = models.TextField(blank=True, help_text="The percent-encoded parameter string before any encryption.")
    payload = models.TextField(blank=True, help_text="What is sent: the parameter string, or its encrypted form.")
    rendered_at = models.DateTimeField(
        null=True, blank=True, help_text="When the placeholders were filled; empty until the change commits."
    )
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self):
        return f"delivery {self.pk} of webhook {self.webhook_id}: {self.status}"


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery and its outcome: an HTTP status, or the error that prevented one."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    started_at = models.DateTimeField()
    url = models.URLField(max_length=2000)
    method = models.CharField(max_length=4)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField()
    response = models.TextField(blank=True, help_text="The first 2,000 characters of the response body.")

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"attempt {self.pk} of delivery {self.delivery_id}: {self.status_code or self.error}"


class SsoClient(models.Model):
    """The single sign-on switch of an OAuth client: `POST /Console/Sso` works only for enabled clients."""

    application = models.OneToOneField(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="sso"
    )
    enabled = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"SSO {'on' if self.enabled else 'off'} for client {self.application_id}"


class SsoCode(models.Model):
    """A one-time login code for the control panel, stored as the SHA-256 of the code that was handed out."""

    code_sha256 = models.CharField(max_length=64, unique=True)
    account = models.ForeignKey("lists.Account", on_delete=models.CASCADE, related_name="sso_codes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"SSO code {self.pk} of user {self.user_id}"


class SendZip(models.Model):
    """One FTPZIP archive uploaded into `sendzip/`, with what its processing imported, created and sent."""

    class Status(models.TextChoices):
        RECEIVED = "received", "received"
        RUNNING = "running", "running"
        DONE = "done", "done"
        DUPLICATE = "duplicate", "duplicate"
        REJECTED = "rejected", "rejected"
        FAILED = "failed", "failed"

    account = models.ForeignKey("lists.Account", on_delete=models.CASCADE, related_name="send_zips")
    name = models.CharField(max_length=255)
    path = models.CharField(max_length=1024, help_text="Absolute path of the upload on the server.")
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.RECEIVED)
    error = models.TextField(blank=True)
    import_file = models.ForeignKey(ImportFile, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    message = models.ForeignKey("sending.Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    sending = models.ForeignKey("sending.Sending", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    result_name = models.CharField(max_length=255, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["account", "sha256"])]

    def __str__(self):
        return f"{self.name}: {self.status}"


def empty_list():
    return []


class Import(models.Model):
    """One bulk import into a list, from an FTP file, a SOAP xmlDoc or a REST array, with its progress.

    Its id is the SOAP process id and the REST import id. `rows_done` is the
    checkpoint: the input records before it were written in committed
    batches, so a resumed import starts after it. `counts` contains created,
    updated, unchanged and rejected rows, and per channel the new, existing
    and unsubscribed subscriptions.
    """

    class Kind(models.TextChoices):
        FTP = "ftp", "FTP"
        SOAP = "soap", "SOAP"
        REST = "rest", "REST"

    class Status(models.TextChoices):
        CREATED = "created", "created"
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        COMPLETED = "completed", "completed"
        FAILED = "failed", "failed"

    account = models.ForeignKey("lists.Account", on_delete=models.CASCADE, related_name="imports")
    list = models.ForeignKey("lists.List", on_delete=models.CASCADE, related_name="imports")
    kind = models.CharField(max_length=4, choices=Kind.choices)
    options = models.JSONField(default=dict, help_text="Status flags, channels and groups of lists.services.ImportOptions.")
    payload = models.TextField(blank=True, help_text="The xmlDoc or JSON array of a SOAP or REST import.")
    payload_format = models.CharField(max_length=16, blank=True, help_text="xmldoc or json; empty for an FTP file.")
    status = models.CharField(max_length=9, choices=Status.choices, default=Status.CREATED)
    rows_done = models.PositiveIntegerField(default=0)
    report_offset = models.BigIntegerField(default=0, help_text="Bytes of the report file written by committed batches.")
    counts = models.JSONField(default=dict)
    # `list` is the list field inside this class body, hence the helper.
    rejections = models.JSONField(default=empty_list, help_text="The first rejected rows: [row, contact, reason].")
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The sending that contains the confirmation requests of a REST import with ConfirmEmail.
    confirmation_sending = models.OneToOneField(
        "sending.Sending", on_delete=models.SET_NULL, null=True, blank=True, related_name="confirmation_import"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Time of the last committed batch.")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["list", "status"]), models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self):
        return f"import {self.pk} ({self.kind}) into {self.list_id}: {self.status}"

    def count(self, name):
        return self.counts.get(name, 0)
