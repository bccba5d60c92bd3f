"""Errors raised by sending.services.

Like lists.errors, each carries a short `code` that protocol adapters map
to their own shape, and a message that names the value at fault.
"""

from lists.errors import ListsError


class SendingError(ListsError):
    code = "sending_error"


class MessageNotFound(SendingError):
    code = "message_not_found"


class SendingNotFound(SendingError):
    code = "sending_not_found"
