"""Forms of the control panel; they validate input, and services make the changes."""

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from lists.models import Group, List


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


class GroupForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3}))


class AddRecipientForm(forms.Form):
    """A recipient to subscribe by hand: address, optional double opt-in and groups."""

    email = forms.EmailField(label=_("E-mail address"))
    confirm = forms.BooleanField(
        label=_("Ask for confirmation (double opt-in)"),
        required=False,
        help_text=_("The recipient stays pending until they click the link of the confirmation request."),
    )
    groups = forms.ModelMultipleChoiceField(
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


class SendForm(forms.Form):
    """The target of a sending and when it starts."""

    groups = forms.ModelMultipleChoiceField(
        label=_("Only these groups"), queryset=Group.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )
    excluded_groups = forms.ModelMultipleChoiceField(
        label=_("Except these groups"), queryset=Group.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )
    scheduled_at = forms.DateTimeField(
        label=_("Send at"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M"],
        help_text=_("Empty: send now."),
    )

    def __init__(self, *args, mailing_list, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["groups"].queryset = mailing_list.groups.all()
        self.fields["excluded_groups"].queryset = mailing_list.groups.all()


class TestSendForm(forms.Form):
    addresses = forms.CharField(
        label=_("Addresses"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One or more subscribed recipients of the list, separated by commas or new lines."),
    )
