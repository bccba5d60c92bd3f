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


class InvalidMessage(SendingError):
    """A message, tag, image or schedule value is missing or malformed."""

    code = "invalid_parameter"


class SendingStateError(SendingError):
    """The sending or message is in a state that forbids the change, such as deleting a running sending."""

    code = "invalid_state"


class AttachmentNotFound(SendingError):
    code = "attachment_not_found"


class InvalidAttachment(InvalidMessage, ValueError):
    """An attachment's name, size or slot is invalid, and `field` names it: "filename", "content" or "slot".

    It is also a ValueError, because add_attachment raised ValueError before
    attachments had slots and the FTPZIP import still catches that.
    """

    def __init__(self, field, message):
        super().__init__(message)
        self.field = field
