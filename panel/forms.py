"""Forms of the control panel; they validate input, and services make the changes."""

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import URLValidator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from lists.models import Group, List, Subscription
from lists.validation import SINGLE_LINE_CONTROL_CHARACTERS
from panel.paging import read_id
from sending import services as sending_services
from sending import transactional_sms
from sending.models import SavedFilter


WEB_PAGE_URL = URLValidator(schemes=["http", "https"])


class ConsoleLoginForm(AuthenticationForm):
    error_messages = {
        "invalid_login": _("Wrong user name or password. Both are case-sensitive."),
        "inactive": _("This user is disabled."),
    }


class ListForm(forms.ModelForm):
    """A list's sender, language, opt-in settings and system messages."""

    class Meta:
        model = List
        fields = [
            "name",
            "description",
            "sender_name",
            "sender_email",
            "reply_to",
            "language",
            "default_prefix",
            "confirmation_link_hours",
            "send_welcome",
            "send_unsubscribe_confirmation",
            "subscribe_result_url",
            "confirm_result_url",
            "confirmation_subject",
            "confirmation_html",
            "welcome_subject",
            "welcome_html",
            "unsubscribe_subject",
            "unsubscribe_html",
        ]
        labels = {
            "name": _("Name"),
            "description": _("Description"),
            "sender_name": _("Sender name"),
            "sender_email": _("Sender address"),
            "reply_to": _("Reply-to address"),
            "language": _("Language"),
            "default_prefix": _("Default mobile prefix"),
            "confirmation_link_hours": _("Confirmation link lifetime (hours)"),
            "send_welcome": _("Send a welcome message after confirmation"),
            "send_unsubscribe_confirmation": _("Send a message confirming an unsubscription"),
            "subscribe_result_url": _("Page after subscribing"),
            "confirm_result_url": _("Page after confirming"),
            "confirmation_subject": _("Confirmation request subject"),
            "confirmation_html": _("Confirmation request HTML"),
            "welcome_subject": _("Welcome message subject"),
            "welcome_html": _("Welcome message HTML"),
            "unsubscribe_subject": _("Unsubscribe confirmation subject"),
            "unsubscribe_html": _("Unsubscribe confirmation HTML"),
        }
        help_texts = {
            "confirmation_subject": _("Empty: the built-in text in the list's language."),
            "welcome_subject": _("Empty: the built-in text in the list's language."),
            "unsubscribe_subject": _("Empty: the built-in text in the list's language."),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # subscribe.aspx and confirmation links redirect browsers here, so only web
        # pages fit. URLField alone accepts ftps:, which Django refuses to redirect to.
        for name in ("subscribe_result_url", "confirm_result_url"):
            self.fields[name].validators.append(WEB_PAGE_URL)


class GroupForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3}))


class IdMultipleChoiceField(forms.ModelMultipleChoiceField):
    """A ModelMultipleChoiceField that rejects an id which is not ASCII digits or is too large for a database key.

    Django 5.2 passes a too large id on to the `__in` lookup, where SQLite
    raises OverflowError.
    """

    def _check_values(self, value):
        for pk in value:
            if read_id(str(pk)) is None:
                raise forms.ValidationError(self.error_messages["invalid_pk_value"], code="invalid_pk_value", params={"pk": pk})
        return super()._check_values(value)


class AddRecipientForm(forms.Form):
    """A recipient to subscribe by hand: address, optional double opt-in and groups."""

    email = forms.EmailField(label=_("E-mail address"))
    confirm = forms.BooleanField(
        label=_("Ask for confirmation (double opt-in)"),
        required=False,
        help_text=_("The recipient stays pending until they click the link of the confirmation request."),
    )
    groups = IdMultipleChoiceField(
        label=_("Groups"), queryset=Group.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, mailing_list, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["groups"].queryset = mailing_list.groups.all()


class MessageForm(forms.Form):
    """A newsletter's content; `inline_css` moves <style> rules into style attributes on save."""

    list = forms.ModelChoiceField(label=_("List"), queryset=List.objects.none(), to_field_name="list_id")
    subject = forms.CharField(label=_("Subject"), max_length=500)
    preheader = forms.CharField(
        label=_("Pre-header"),
        max_length=300,
        required=False,
        help_text=_("Preview text that mail clients show after the subject."),
    )
    html = forms.CharField(label=_("HTML"), required=False, widget=forms.Textarea(attrs={"rows": 18}))
    text = forms.CharField(
        label=_("Text part"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_("Empty: generated from the HTML."),
    )
    inline_css = forms.BooleanField(label=_("Inline the CSS for e-mail clients"), required=False, initial=True)

    def __init__(self, *args, account, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["list"].queryset = account.lists.all()

    def clean_subject(self):
        return _one_line(self.cleaned_data["subject"])

    def clean_preheader(self):
        return _one_line(self.cleaned_data["preheader"])


def _one_line(value):
    # The subject becomes a mail header and the pre-header sits beside it in
    # mail clients, so neither may hold a line break.
    if SINGLE_LINE_CONTROL_CHARACTERS.search(value):
        raise forms.ValidationError(_("Write this on one line, without line breaks or control characters."))
    return value


class StartTimeField(forms.DateTimeField):
    """When a sending starts, as the browser's local date and time; empty or past means now (None)."""

    def __init__(self):
        super().__init__(
            label=_("Send at"),
            required=False,
            widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
            input_formats=["%Y-%m-%dT%H:%M"],
            help_text=_("Empty: send now."),
        )

    def clean(self, value):
        try:
            return sending_services.check_schedule(super().clean(value))
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None


class SendForm(forms.Form):
    """The target of a sending and when it starts."""

    groups = IdMultipleChoiceField(
        label=_("Only these groups"), queryset=Group.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )
    excluded_groups = IdMultipleChoiceField(
        label=_("Except these groups"), queryset=Group.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )
    scheduled_at = StartTimeField()

    filters = IdMultipleChoiceField(
        label=_("Only recipients matching these saved filters"),
        queryset=SavedFilter.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    filters_match = forms.ChoiceField(
        label=_("With several filters, keep recipients matching"),
        choices=[(SavedFilter.Match.ALL, _("every filter")), (SavedFilter.Match.ANY, _("any filter"))],
        required=False,
    )

    def __init__(self, *args, mailing_list, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["groups"].queryset = mailing_list.groups.all()
        self.fields["excluded_groups"].queryset = mailing_list.groups.all()
        self.fields["filters"].queryset = mailing_list.saved_filters.order_by("name")
        if not mailing_list.saved_filters.exists():
            del self.fields["filters"]
            del self.fields["filters_match"]

    def target(self):
        """Return the target keyword arguments of sending_services.queue_sending and count_target_recipients."""
        return {
            "groups": self.cleaned_data["groups"],
            "excluded_groups": self.cleaned_data["excluded_groups"],
            "filters": self.cleaned_data.get("filters") or [],
            "filters_match": self.cleaned_data.get("filters_match") or SavedFilter.Match.ALL,
        }


class TestSendForm(forms.Form):
    addresses = forms.CharField(
        label=_("Addresses"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One or more subscribed recipients of the list, separated by commas or new lines."),
    )


# --- Saved filters -------------------------------------------------------------------

FILTER_ROWS = 5
# sending.filters accepts at most this many conditions in one filter.
MAX_FILTER_ROWS = 50
TEXT_OPERATOR_CHOICES = [
    ("equals", _("is")),
    ("not_equals", _("is not")),
    ("contains", _("contains")),
    ("not_contains", _("does not contain")),
    ("starts_with", _("starts with")),
    ("ends_with", _("ends with")),
    ("is_empty", _("is empty")),
    ("is_not_empty", _("is not empty")),
]


def filter_row_count(data=None, saved_filter=None):
    """Return how many condition rows the filter form shows: the posted rows, or the stored ones plus one blank."""
    if data is not None:
        posted = sum(1 for key in data if key.startswith("field_"))
        return min(max(posted, 1), MAX_FILTER_ROWS)
    stored = sum(1 for condition in saved_filter.conditions if "field" in condition) if saved_filter else 0
    return min(max(FILTER_ROWS, stored + 1), MAX_FILTER_ROWS)


class SavedFilterForm(forms.Form):
    """A saved filter: its name, how conditions combine, statuses and `rows` field conditions.

    `conditions()` returns the stored shape that sending.filters checks.
    Each ticked status is one condition, and rows without a field are skipped.
    """

    name = forms.CharField(label=_("Name"), max_length=200)
    match = forms.ChoiceField(label=_("Match"), choices=SavedFilter.Match.choices)
    statuses = forms.MultipleChoiceField(
        label=_("Subscription status"),
        choices=Subscription.Status.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, account, rows=FILTER_ROWS, **kwargs):
        super().__init__(*args, **kwargs)
        self.row_count = rows
        definitions = account.field_definitions.order_by("field_id").values_list("field_id", "name")
        field_choices = [("", "-"), ("email", _("e-mail address")), ("mobile", _("mobile number"))]
        field_choices += [(f"campo{field_id}", name) for field_id, name in definitions]
        for row in range(rows):
            number = {"number": row + 1}
            self.fields[f"field_{row}"] = forms.ChoiceField(
                label=_("Field"), choices=field_choices, required=False,
                widget=forms.Select(attrs={"aria-label": gettext("Condition %(number)s: field") % number}),
            )  # fmt: skip
            self.fields[f"operator_{row}"] = forms.ChoiceField(
                label=_("Operator"), choices=TEXT_OPERATOR_CHOICES, required=False,
                widget=forms.Select(attrs={"aria-label": gettext("Condition %(number)s: operator") % number}),
            )  # fmt: skip
            self.fields[f"value_{row}"] = forms.CharField(
                label=_("Value"), max_length=200, required=False,
                widget=forms.TextInput(attrs={"aria-label": gettext("Condition %(number)s: value") % number}),
            )  # fmt: skip

    def rows(self):
        """Yield the (field, operator, value) bound fields of each condition row, for the template's table."""
        for row in range(self.row_count):
            yield self[f"field_{row}"], self[f"operator_{row}"], self[f"value_{row}"]

    def conditions(self):
        data = self.cleaned_data
        conditions = [{"status": status} for status in data["statuses"]]
        for row in range(self.row_count):
            if not data[f"field_{row}"]:
                continue
            condition = {"field": data[f"field_{row}"], "operator": data[f"operator_{row}"] or "equals"}
            if data[f"value_{row}"]:
                condition["value"] = data[f"value_{row}"]
            conditions.append(condition)
        return conditions

    @staticmethod
    def initial_for(saved_filter):
        """Return the form's initial data for a stored filter."""
        initial = {
            "name": saved_filter.name,
            "match": saved_filter.match,
            "statuses": [condition["status"] for condition in saved_filter.conditions if "status" in condition],
        }
        rows = [condition for condition in saved_filter.conditions if "field" in condition]
        for row, condition in enumerate(rows):
            initial[f"field_{row}"] = condition["field"]
            initial[f"operator_{row}"] = condition["operator"]
            initial[f"value_{row}"] = condition.get("value", "")
        return initial


class TrialPasswordForm(forms.Form):
    """The password that the owner of a new trial console chooses on the activation page."""

    password = forms.CharField(label=_("Password"), widget=forms.PasswordInput, max_length=128)
    password_again = forms.CharField(label=_("Password again"), widget=forms.PasswordInput, max_length=128)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password") and cleaned.get("password") != cleaned.get("password_again"):
            self.add_error("password_again", _("The two passwords differ."))
        return cleaned


# The maximum SMS length in MailUp's help: ten Unicode parts of 67
# characters. sending.transactional_sms lists both of its limits.
MAX_SMS_CHARACTERS = max(transactional_sms.MAX_CHARACTERS.values())


class SmsMessageForm(forms.Form):
    """The text of an SMS message of a list, with an optional name to find it by."""

    subject = forms.CharField(label=_("Name"), max_length=200, required=False, help_text=_("Shown only in the console."))
    text = forms.CharField(
        label=_("Text"),
        max_length=MAX_SMS_CHARACTERS,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Merge tags such as [nome] are filled with each recipient's fields."),
    )

    def clean_subject(self):
        subject = self.cleaned_data["subject"].strip()
        if SINGLE_LINE_CONTROL_CHARACTERS.search(subject):
            raise forms.ValidationError(_("The name must be one line without control characters."))
        return subject

    def clean_text(self):
        text = self.cleaned_data["text"]
        if "\x00" in text:
            raise forms.ValidationError(_("The text must not contain NUL characters."))
        return text


class SmsSendForm(forms.Form):
    """The target of an SMS sending (the list, or one group of it) and when it starts."""

    group = forms.ModelChoiceField(
        label=_("Only this group"), queryset=Group.objects.none(), required=False, empty_label=_("the whole list")
    )
    scheduled_at = StartTimeField()

    def __init__(self, *args, mailing_list, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["group"].queryset = mailing_list.groups.all()
