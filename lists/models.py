"""Accounts, lists, recipients and their subscriptions.

Only lists.services changes subscription state; the models carry data,
constraints and small derived values.
"""

import uuid

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

LANGUAGE_CHOICES = [("it", _("Italian")), ("en", _("English"))]
MAX_FIELD_ID = 39
MAX_FIELD_VALUE_LENGTH = 200


class Account(models.Model):
    """A MailUp console: its id names the console user `m<id>` and the web-service user `a<id>`."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        SUSPENDED = "suspended", _("suspended")
        INACTIVE = "inactive", _("inactive")
        EXPIRED = "expired", _("expired")

    console_id = models.PositiveIntegerField(unique=True)
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    language = models.CharField(max_length=2, choices=LANGUAGE_CHOICES, default="it")
    ws_password = models.CharField(max_length=128, help_text=_("Hashed password of the web-service user."))
    frontend_ip_restricted = models.BooleanField(
        default=True, help_text=_("Answer the Xml* frontend pages only for registered IP addresses.")
    )
    # This many soft bounces of one address within soft_bounce_days count as
    # a hard bounce (reason 512, every list); 0 turns the rule off.
    soft_bounce_limit = models.PositiveSmallIntegerField(default=3)
    soft_bounce_days = models.PositiveSmallIntegerField(default=7)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["console_id"]

    def __str__(self):
        return f"{self.console_id} {self.name}"

    @property
    def console_username(self):
        return f"m{self.console_id}"

    @property
    def ws_username(self):
        return f"a{self.console_id}"

    @property
    def console_host(self):
        """Default host name of the console; browsers and curl resolve *.localhost to loopback."""
        return f"c{self.console_id}.localhost"

    def set_ws_password(self, raw_password):
        self.ws_password = make_password(raw_password)

    def check_ws_password(self, raw_password):
        return check_password(raw_password, self.ws_password)


class AccountUser(models.Model):
    """A control-panel user of an account; the console user m<id> is its admin."""

    class Role(models.TextChoices):
        ADMIN = "admin", _("administrator")
        EDITOR = "editor", _("editor")
        VIEWER = "viewer", _("viewer")

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="members")
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.ADMIN)

    def __str__(self):
        return f"{self.user} ({self.role}) in {self.account.console_id}"


class ConsoleHost(models.Model):
    """An extra host name that reaches an account's console pages."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="host_aliases")
    name = models.CharField(max_length=253, unique=True, help_text=_("Lower-case host name without port."))

    def __str__(self):
        return self.name


class WebService(models.Model):
    """An account's switch for one MailUp web service (FrontEnd or WSMailUpImport)."""

    class Name(models.TextChoices):
        FRONTEND = "FrontEnd", "FrontEnd"
        IMPORT = "WSMailUpImport", "WSMailUpImport"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="web_services")
    name = models.CharField(max_length=32, choices=Name.choices)
    enabled = models.BooleanField(default=True, help_text=_("The platform lets the account use this service."))
    active = models.BooleanField(default=False, help_text=_("The account has activated this service."))
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "name"], name="unique_web_service_per_account")]

    def __str__(self):
        return f"{self.name} of {self.account.console_id}"


class AllowedAddress(models.Model):
    """A caller IP address registered for a web service of an account."""

    web_service = models.ForeignKey(WebService, on_delete=models.CASCADE, related_name="allowed_addresses")
    ip = models.GenericIPAddressField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["web_service", "ip"], name="unique_ip_per_web_service")]

    def __str__(self):
        return self.ip


class List(models.Model):
    """A distribution list. `list_id` is the number MailUp clients send; it is unique inside an account."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="lists")
    list_id = models.PositiveIntegerField()
    guid = models.UUIDField(default=uuid.uuid4, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    sender_name = models.CharField(max_length=200)
    sender_email = models.EmailField()
    reply_to = models.EmailField(blank=True)
    default_prefix = models.CharField(
        max_length=6, default="0039", help_text=_("International prefix applied to mobile numbers given without one.")
    )
    language = models.CharField(max_length=2, choices=LANGUAGE_CHOICES, default="it")

    confirmation_link_hours = models.PositiveIntegerField(
        default=72, help_text=_("Hours after which the link of a confirmation request expires.")
    )
    send_welcome = models.BooleanField(default=True)
    send_unsubscribe_confirmation = models.BooleanField(default=False)
    subscribe_result_url = models.URLField(
        blank=True, help_text=_("Page shown after subscribe.aspx; empty for the built-in page.")
    )
    confirm_result_url = models.URLField(
        blank=True, help_text=_("Page shown after a confirmation link; empty for the built-in page.")
    )

    # An empty subject or body means the built-in text in the list's language.
    confirmation_subject = models.CharField(max_length=300, blank=True)
    confirmation_html = models.TextField(blank=True)
    welcome_subject = models.CharField(max_length=300, blank=True)
    welcome_html = models.TextField(blank=True)
    unsubscribe_subject = models.CharField(max_length=300, blank=True)
    unsubscribe_html = models.TextField(blank=True)

    # MailUp list settings that the platform stores and returns but does
    # not act on (Charset, TimeZoneCode, WebSiteUrl …), by their MailUp names.
    extra_settings = models.JSONField(default=dict, blank=True)
    # The ListSecret of the transactional SMS API v2.0, a GUID; empty means
    # transactional SMS are off for the list. Stored readable because MailUp
    # returns it on GET.
    sms_list_secret = models.CharField(max_length=36, blank=True)
    # The caller-chosen key of the SOAP CreateList call (its `autoId`),
    # which GetListIdentity looks lists up by; empty for other lists.
    auto_id = models.CharField(max_length=200, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["account", "list_id"]
        constraints = [models.UniqueConstraint(fields=["account", "list_id"], name="unique_list_id_per_account")]

    def __str__(self):
        return f"{self.list_id} {self.name}"


class Group(models.Model):
    """A group of recipients inside one list; its primary key is the group id clients send."""

    list = models.ForeignKey(List, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(max_length=200)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.name


class FieldDefinition(models.Model):
    """The name of recipient field `campo<field_id>` in an account."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="field_definitions")
    field_id = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["account", "field_id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "field_id"], name="unique_field_id_per_account"),
            models.CheckConstraint(
                condition=Q(field_id__gte=1, field_id__lte=MAX_FIELD_ID), name="field_id_between_1_and_39"
            ),
        ]

    def __str__(self):
        return f"campo{self.field_id} {self.name}"


class Recipient(models.Model):
    """A person in an account, known by a lower-case e-mail address, a mobile number, or both.

    `fields` maps a field id, as a string, to its value.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="recipients")
    email = models.CharField(max_length=254, null=True, blank=True)
    mobile_prefix = models.CharField(max_length=6, blank=True)
    mobile_number = models.CharField(max_length=20, null=True, blank=True)
    # The REST API's Name. The database default lets the bulk writers, which
    # name their columns, leave it out.
    name = models.CharField(max_length=200, blank=True, default="", db_default="")
    fields = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "email"], condition=Q(email__isnull=False), name="unique_email_per_account"
            ),
            models.UniqueConstraint(
                fields=["account", "mobile_prefix", "mobile_number"],
                condition=Q(mobile_number__isnull=False),
                name="unique_mobile_per_account",
            ),
            models.CheckConstraint(
                condition=Q(email__isnull=False) | Q(mobile_number__isnull=False), name="recipient_has_email_or_mobile"
            ),
        ]

    def __str__(self):
        return self.email or self.mobile

    @property
    def mobile(self):
        if not self.mobile_number:
            return ""
        return f"{self.mobile_prefix}{self.mobile_number}"


class Channel(models.TextChoices):
    EMAIL = "email", _("e-mail")
    SMS = "sms", _("SMS")


class Source(models.TextChoices):
    """The origin of a change. The first three are MailUp's webhook sources."""

    API = "API", "API"
    CONSOLE = "Console", "Console"
    RECIPIENT = "Recipient", "Recipient"
    IMPORT = "Import", "Import"
    BOUNCE = "Bounce", "Bounce"
    FBL = "FBL", "FBL"


class Subscription(models.Model):
    """The state of one channel of a recipient on a list."""

    class Status(models.TextChoices):
        SUBSCRIBED = "subscribed", _("subscribed")
        PENDING = "pending", _("pending")
        UNSUBSCRIBED = "unsubscribed", _("unsubscribed")

    # No index of their own: the unique constraint starts with recipient and
    # the index below with list, and every index slows a bulk import down.
    recipient = models.ForeignKey(Recipient, on_delete=models.CASCADE, related_name="subscriptions", db_index=False)
    list = models.ForeignKey(List, on_delete=models.CASCADE, related_name="subscriptions", db_index=False)
    channel = models.CharField(max_length=5, choices=Channel.choices, default=Channel.EMAIL)
    status = models.CharField(max_length=12, choices=Status.choices)
    source = models.CharField(max_length=10, choices=Source.choices)
    requested_at = models.DateTimeField(null=True, blank=True)
    request_ip = models.GenericIPAddressField(null=True, blank=True)
    optin_at = models.DateTimeField(null=True, blank=True)
    optout_at = models.DateTimeField(null=True, blank=True)
    optout_reason = models.CharField(
        max_length=8, blank=True, help_text=_("MailUp unsubscribe reason code, such as 2 (link) or 80 (bounce).")
    )
    optout_message_id = models.PositiveIntegerField(null=True, blank=True)
    confirmation_sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["recipient", "list", "channel"], name="unique_subscription_per_channel")
        ]
        # Recipient comes last, so a page of a status listing (ordered by
        # recipient id) walks the index and stops after the page. Without it
        # the page sorted every subscriber of the list. Counts read the prefix.
        indexes = [models.Index(fields=["list", "channel", "status", "recipient"], name="subscription_listing")]

    def __str__(self):
        return f"{self.recipient} on {self.list}: {self.status}"


class GroupMembership(models.Model):
    # The unique constraint, which starts with group, is its index.
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="memberships", db_index=False)
    recipient = models.ForeignKey(Recipient, on_delete=models.CASCADE, related_name="group_memberships")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "recipient"], name="unique_group_membership")]


class SubscriptionEvent(models.Model):
    """A change to a recipient, recorded in the transaction that made it."""

    class Kind(models.TextChoices):
        SUBSCRIBE_REQUEST = "subscribe_request", _("subscription requested")
        SUBSCRIBE = "subscribe", _("subscribed")
        CONFIRM = "confirm", _("subscription confirmed")
        UNSUBSCRIBE = "unsubscribe", _("unsubscribed")
        PROFILE_CHANGE = "profile_change", _("profile changed")
        DELETE = "delete", _("deleted")
        # Recorded by the tracking endpoints; no webhook fires for them.
        OPEN = "open", _("message opened")
        CLICK = "click", _("link clicked")

    # The table is append-only and the largest one an import writes, so its
    # foreign keys have no database constraint. Checking three of them per
    # event at commit took about a quarter of the database time of the
    # SQL-only import in bench/import.py --floor. Events are only created by
    # lists.services and lists.bulk_import, in the transaction that created
    # or locked their recipient and read their list, and every delete goes
    # through the ORM, which applies on_delete itself. The indexes stay for
    # those deletes and for the reads by recipient and list. The index that
    # starts with account also serves account lookups.
    # A concurrent delete could still miss the events of a transaction that
    # commits after the delete's UPDATE … SET NULL. services.delete_list
    # deletes the list's subscriptions first, which waits for the writers
    # that lock them, and tests/lists/test_delete_races.py checks it. No
    # service deletes a recipient: they go only with their account.
    # NOTE: deleting an account (only possible from a shell) while an import
    # runs in it can leave events of that import behind.
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="events", db_index=False, db_constraint=False
    )
    list = models.ForeignKey(
        List, on_delete=models.SET_NULL, null=True, blank=True, related_name="events", db_constraint=False
    )
    recipient = models.ForeignKey(
        Recipient, on_delete=models.SET_NULL, null=True, blank=True, related_name="events", db_constraint=False
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    channel = models.CharField(max_length=5, choices=Channel.choices, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices)
    reason = models.CharField(max_length=8, blank=True)
    message_id = models.PositiveIntegerField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["account", "created_at"])]

    def __str__(self):
        return f"{self.kind} {self.recipient_id} on {self.list_id} ({self.source})"


class AccessKey(models.Model):
    """A session key of the MailupSend, MailupManage and MailupReport SOAP services.

    Only the SHA-256 digest of the key is stored. A key is valid from issue
    until `expires_at`, use does not extend it, and Logout ends it early.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="access_keys")
    digest = models.CharField(max_length=64, unique=True)
    # The user that logged in: m<console id> or a<console id>.
    username = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    logged_out_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"access key {self.pk} of {self.username}"


class TrialActivation(models.Model):
    """A partner application's request to open a trial console for a person (PublicService TrialActivation).

    The partner reads the request back with `id` and `hash`. The person
    opens the console through an e-mailed link, whose token is stored only
    as its SHA-256 `link_digest`. `pending_email` is the address while the
    request is pending and NULL once it is activated or found expired, so
    the unique constraint allows one pending request per address.
    """

    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="trial_activations"
    )
    hash = models.CharField(max_length=64, unique=True)
    link_digest = models.CharField(max_length=64, unique=True)
    name_and_surname = models.CharField(max_length=200)
    email = models.CharField(max_length=254, db_index=True)
    pending_email = models.CharField(max_length=254, null=True, blank=True, unique=True)
    company = models.CharField(max_length=200, blank=True)
    phone_number = models.CharField(max_length=40, blank=True)
    language = models.CharField(max_length=2, choices=LANGUAGE_CHOICES)
    is_usa = models.BooleanField(default=False)
    register_to_newsletter = models.BooleanField(default=False)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    referer = models.CharField(max_length=2000, blank=True)
    user_agent = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    activated_at = models.DateTimeField(null=True, blank=True)
    account = models.OneToOneField(
        Account, on_delete=models.SET_NULL, null=True, blank=True, related_name="trial_activation"
    )

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"trial activation {self.pk} for {self.email}"
