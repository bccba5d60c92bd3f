"""Errors raised by lists.services.

Each carries a short `code` that the protocol adapters map to their own
shape (frontend integer, SOAP errorCode, REST envelope, panel message), and
a message for logs and humans that names the value at fault.
"""


class ListsError(Exception):
    code = "error"

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class InvalidParameter(ListsError):
    """A parameter is missing or malformed; `field` names it."""

    code = "invalid_parameter"

    def __init__(self, field, message):
        super().__init__(message)
        self.field = field


class InvalidContact(ListsError):
    """The e-mail address or mobile number is not valid."""

    code = "invalid_contact"


class ListNotFound(ListsError):
    code = "list_not_found"


class GroupNotFound(ListsError):
    code = "group_not_found"


class RecipientNotFound(ListsError):
    code = "recipient_not_found"


class NotSubscribed(ListsError):
    """The recipient is unknown on the list or already unsubscribed from it."""

    code = "not_subscribed"


class SubscriptionBlocked(ListsError):
    """A hard bounce or a spam complaint unsubscribed the recipient; only they can undo it."""

    code = "subscription_blocked"


class ListBusy(ListsError):
    """A list cannot be deleted while one of its sendings is being prepared or sent."""

    code = "list_busy"


class InvalidLink(ListsError):
    """A signed link is malformed, tampered with, expired or no longer applicable."""

    code = "invalid_link"


class ActivationError(ListsError):
    """A web-service activation failed; `return_code` is MailUp's negative ReturnCode."""

    code = "activation_error"

    def __init__(self, return_code, message):
        super().__init__(message)
        self.return_code = return_code


class LoginFailed(ListsError):
    """A web-service login failed: unknown user, wrong password, console id or console URL."""

    code = "login_failed"


class AccountNotActive(ListsError):
    """The account is suspended, inactive or expired, so its users cannot log in."""

    code = "account_not_active"


class AccessKeyInvalid(ListsError):
    """An accessKey is unknown, expired or logged out."""

    code = "access_key_invalid"


class TrialNotFound(ListsError):
    """No trial activation of the calling partner has this Id and Hash."""

    code = "trial_not_found"
