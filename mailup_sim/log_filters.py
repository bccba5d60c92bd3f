"""Logging filters that the LOGGING setting names."""

import logging

# The attribute that mailup_sim.soap sets on a request whose response is a client fault.
SOAP_FAULT_ATTRIBUTE = "mailup_soap_client_fault"


class SkipSoapClientFaults(logging.Filter):
    """Drop django.request's "Internal Server Error" record for a SOAP fault caused by the client's request.

    SOAP sends every fault with HTTP 500, so Django logs a malformed
    envelope or an unknown operation as a server error. mailup_sim.soap
    logs such a fault at INFO with its message instead. A fault from an
    unexpected exception keeps Django's record.
    """

    def filter(self, record):
        request = getattr(record, "request", None)
        return not getattr(request, SOAP_FAULT_ATTRIBUTE, False)
