"""Errors raised by the campaign functions of sending.services.

Each carries a short `code` that the protocol adapters map to their own
shape, and a message for logs and humans that names the value at fault.
"""


class SendingError(Exception):
    code = "error"

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class InvalidMessage(SendingError):
    """A message, tag, image or schedule value is missing or malformed."""

    code = "invalid_parameter"


class SendingStateError(SendingError):
    """The sending or message is in a state that forbids the change, such as deleting a running sending."""

    code = "invalid_state"
