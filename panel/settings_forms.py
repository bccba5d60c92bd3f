"""Forms of the settings pages; they check the shape of the input, and service functions apply the rules."""

from django import forms
from django.utils.translation import gettext_lazy as _

from integrations.models import RuleEvent, Webhook
from lists.models import AccountUser, Source
from sending.models import IpPool, Isp, WarmupSchedule

ROLE_CHOICES = AccountUser.Role.choices
SOURCE_CHOICES = [(value, value) for value in Source.values]


class FrontendAddressForm(forms.Form):
    ip = forms.CharField(label=_("IP address"), max_length=45)


class FrontendRestrictionForm(forms.Form):
    restricted = forms.BooleanField(label=_("Answer the Xml* frontend pages only for the addresses below"), required=False)


class ConsoleUserForm(forms.Form):
    username = forms.CharField(label=_("User name"), max_length=150)
    password = forms.CharField(label=_("Password"), widget=forms.PasswordInput, max_length=128)
    role = forms.ChoiceField(label=_("Role"), choices=ROLE_CHOICES)


class WebServicePasswordForm(forms.Form):
    password = forms.CharField(label=_("New web-service password"), widget=forms.PasswordInput, max_length=128)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=ROLE_CHOICES)


class OAuthClientForm(forms.Form):
    name = forms.CharField(label=_("Client name"), max_length=255)


class SsoSwitchForm(forms.Form):
    enabled = forms.BooleanField(label=_("Single sign-on"), required=False)


class FtpSettingsForm(forms.Form):
    full_import = forms.BooleanField(
        label=_("Treat every uploaded file as a full file"),
        required=False,
        help_text=_("Recipients missing from a full file are unsubscribed from the list."),
    )
    export_time = forms.TimeField(
        label=_("Nightly export time"),
        help_text=_("Server time (HH:MM) at which the unsubscriber export of every list is written."),
    )


class FtpPasswordForm(forms.Form):
    password = forms.CharField(label=_("New FTP password"), widget=forms.PasswordInput, min_length=10, max_length=128)


class RuleForm(forms.Form):
    """The trigger shared by webhooks and post-operations. `lists` choices are the account's list ids."""

    event = forms.ChoiceField(label=_("Event"), choices=RuleEvent.choices)
    sources = forms.MultipleChoiceField(label=_("Sources"), choices=SOURCE_CHOICES, widget=forms.CheckboxSelectMultiple)
    lists = forms.TypedMultipleChoiceField(
        label=_("Lists (none for every list)"), coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args, account, **kwargs):
        super().__init__(*args, **kwargs)
        self.list_choices = [(item.list_id, f"{item.list_id} {item.name}") for item in account.lists.order_by("list_id")]
        for name in self.list_fields():
            self.fields[name].choices = self.list_choices

    def list_fields(self):
        return ("lists",)


class WebhookForm(RuleForm):
    method = forms.ChoiceField(label=_("Method"), choices=Webhook.Method.choices)
    url = forms.URLField(label=_("URL"), max_length=2000, assume_scheme="https")
    parameters = forms.CharField(
        label=_("Parameters"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("One name=template pair a line, such as email=[email] or list=[IdList]."),
    )
    encryption_key = forms.CharField(
        label=_("RC4 encryption key"),
        required=False,
        max_length=200,
        help_text=_("Empty sends plain parameters. A saved key is never shown; leave it empty to keep it."),
    )

    def clean_parameters(self):
        pairs = []
        for number, line in enumerate(self.cleaned_data["parameters"].splitlines(), start=1):
            if not line.strip():
                continue
            name, separator, template = line.partition("=")
            if not separator or not name.strip():
                raise forms.ValidationError(
                    _("Line %(number)s is not a name=template pair.") % {"number": number}
                )
            pairs.append([name.strip(), template.strip()])
        return pairs


class PostOperationForm(RuleForm):
    subscribe_to = forms.TypedMultipleChoiceField(
        label=_("Subscribe to"), coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )
    unsubscribe_from = forms.TypedMultipleChoiceField(
        label=_("Unsubscribe from"), coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )

    def list_fields(self):
        return ("lists", "subscribe_to", "unsubscribe_from")


class IpPoolForm(forms.Form):
    name = forms.SlugField(label=_("Name"), max_length=50)
    description = forms.CharField(label=_("Description"), max_length=200, required=False)
    addresses = forms.CharField(
        label=_("Source addresses"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One IPv4 address in 127.0.0.0/8 a line."),
    )

    def clean_addresses(self):
        return [line.strip() for line in self.cleaned_data["addresses"].splitlines() if line.strip()]


class WarmupScheduleForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    hourly_limits = forms.CharField(
        label=_("Messages per hour per source IP, day by day"),
        help_text=_("Whole numbers separated by commas, such as 50, 100, 200, 400."),
    )

    def clean_hourly_limits(self):
        parts = [part.strip() for part in self.cleaned_data["hourly_limits"].split(",") if part.strip()]
        if not parts or not all(part.isascii() and part.isdigit() and len(part) <= 9 for part in parts):
            raise forms.ValidationError(_("Give whole numbers separated by commas."))
        return [int(part) for part in parts]


class IspRuleForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    isp = forms.ModelChoiceField(label=_("ISP (none for every ISP)"), queryset=Isp.objects.all(), required=False)
    pool = forms.ModelChoiceField(label=_("IP pool"), queryset=IpPool.objects.all())
    priority = forms.IntegerField(label=_("Priority"), initial=0, min_value=-1000, max_value=1000)
    max_per_hour = forms.IntegerField(label=_("Messages per hour per source IP"), required=False, min_value=1)
    max_connections = forms.IntegerField(label=_("Connections per source IP"), required=False, min_value=1, max_value=1000)
    warmup = forms.ModelChoiceField(label=_("Warm-up schedule"), queryset=WarmupSchedule.objects.all(), required=False)
    # Translators: write the date pattern of this language's first DATE_INPUT_FORMATS
    # entry, which the field also uses to show a value: GG/MM/AAAA in Italian.
    warmup_started_on = forms.DateField(label=_("Warm-up start date (YYYY-MM-DD)"), required=False)


class SmtpUserForm(forms.Form):
    list = forms.TypedChoiceField(label=_("List"), coerce=int)

    def __init__(self, *args, account, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["list"].choices = [(item.list_id, f"{item.list_id} {item.name}") for item in account.lists.order_by("list_id")]
