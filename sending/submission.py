"""The SMTP+ submission server: transactional mail from `sNNNNN_NN` users over authenticated SMTP.

The aiosmtpd handler stays thin. AUTH PLAIN or LOGIN checks the SMTP+
user, and DATA hands the envelope to `submit_message`, a plain synchronous
function that tests call directly, run in a thread because the Django ORM
is synchronous. AUTH travels without TLS, so the server listens on
loopback by default.
"""

import asyncio
import json
import ipaddress
import logging
import re
import warnings
from concurrent.futures import ThreadPoolExecutor
from email.parser import BytesHeaderParser, HeaderParser
from email.policy import compat32
from email.policy import default as default_policy
from email.utils import getaddresses

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from django.conf import settings
from django.db import close_old_connections

from sending import transactional

logger = logging.getLogger(__name__)

MAX_RECIPIENTS = transactional.MAX_RECIPIENTS
# A header field line as the DKIM signer (dkimpy 1.1) parses it: a name of printable ASCII
# without spaces, then a colon.
HEADER_FIELD_LINE = re.compile(rb"[\x21-\x7e]+?:")
# aiosmtpd warns on every connection that AUTH without TLS is unsafe.
# start_submission logs that once instead, when the server listens
# beyond loopback.
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS", category=UserWarning)
_auth_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="smtp-auth")


def submit_message(user, mail_from, rcpt_tos, raw):
    """Queue one submitted message for its envelope recipients; return the Sending.

    X-SMTPAPI, a JSON object like the HTTP API's XSmtpAPI, names the
    campaign (CampaignCode, CampaignName); the relay removes the header
    before sending. Raises TransactionalError for an unusable message.
    """
    if not rcpt_tos:
        raise transactional.InvalidField("The message has no recipients.")
    _check_header_section(raw)
    _check_header_senders(user, raw)
    smtp_api = _smtp_api(raw)
    campaign_code, campaign_name = transactional.campaign_names(smtp_api, "X-SMTPAPI")
    return transactional.queue_transactional(
        user, mail_from, rcpt_tos, raw, campaign_code=campaign_code, campaign_name=campaign_name
    )


def _check_header_section(raw):
    """Reject a header section that the relay could not sign, so the client hears it now.

    Accepting it would reply 250 and then fail every delivery at rendering.
    Lines are split on CRLF or a bare LF, as the signer splits them.
    """
    for number, line in enumerate(re.split(rb"\r?\n", raw), 1):
        if not line:
            return
        if line[:1] in (b" ", b"\t") and number > 1:
            continue
        if not HEADER_FIELD_LINE.match(line):
            raise transactional.InvalidField(
                f"Header line {number} is neither a 'Name: value' field nor a folded continuation."
            )


def _check_header_senders(user, raw):
    """Apply the user's trusted senders to the From header too, since recipients see that address."""
    if not user.trusted_senders and not user.trusted_domains:
        return
    # SMTPUTF8 clients write UTF-8 addresses in the header, which a bytes
    # parser would turn into replacement characters.
    headers = HeaderParser(policy=compat32).parsestr(raw.decode("utf-8", errors="replace"))
    for _name, address in getaddresses(headers.get_all("From", [])):
        transactional.check_trusted_sender(user, address)


def _smtp_api(raw):
    headers = BytesHeaderParser(policy=default_policy).parsebytes(raw)
    value = headers.get("X-SMTPAPI")
    if value is None:
        return {}
    # ValueError covers JSONDecodeError and an integer of more than 4300 digits.
    try:
        parsed = json.loads(str(value))
    except (ValueError, RecursionError):
        raise transactional.InvalidField("The X-SMTPAPI header is not valid JSON.") from None
    if not isinstance(parsed, dict):
        raise transactional.InvalidField("The X-SMTPAPI header must be a JSON object.")
    return parsed


class SubmissionHandler:
    """aiosmtpd handler: accepts recipients up to the limit and queues each message for the authenticated user."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return f"452 4.5.3 Too many recipients; at most {MAX_RECIPIENTS} per message"
        if not transactional.is_valid_address(address):
            return "553 5.1.3 Invalid recipient address"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            None, _submit, session.auth_data, envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content
        )


def _submit(user, mail_from, rcpt_tos, raw):
    close_old_connections()
    try:
        sending = submit_message(user, mail_from, rcpt_tos, raw)
    except transactional.TransactionalError as error:
        logger.info("smtp+ message rejected user=%s: %s", user.username, error.message)
        return f"554 5.6.0 {error.message}"
    except Exception:
        logger.exception("smtp+ message failed user=%s", user.username)
        return "451 4.3.0 Temporary failure, try again later"
    finally:
        close_old_connections()
    return f"250 2.0.0 Queued as sending {sending.pk}"


def authenticate(server, session, envelope, mechanism, auth_data):
    """aiosmtpd authenticator: check an SMTP+ user for AUTH PLAIN or LOGIN.

    The SmtpUser becomes `session.auth_data`, where DATA reads who sends.
    """
    if not isinstance(auth_data, LoginPassword):
        return AuthResult(success=False, handled=False)
    try:
        username = auth_data.login.decode("utf-8")
        secret = auth_data.password.decode("utf-8")
    except UnicodeDecodeError:
        return AuthResult(success=False, handled=False)

    # aiosmtpd calls the authenticator synchronously inside its event loop,
    # where Django refuses database access, so the check runs in a worker
    # thread. NOTE: the loop waits for it, so password hashing delays other
    # sessions of this process for its duration.
    peer_ip = session.peer[0] if session.peer else ""
    user = _auth_executor.submit(_check_credentials, username, secret, peer_ip).result()
    if user is None:
        return AuthResult(success=False, handled=False)
    logger.info("smtp+ login user=%s peer=%s", user.username, peer_ip)
    return AuthResult(success=True, auth_data=user)


def _check_credentials(username, secret, peer_ip):
    close_old_connections()
    try:
        return transactional.authenticate(username, secret, client_ip=peer_ip or None, api="smtp")
    except transactional.AuthenticationFailed:
        return None
    finally:
        close_old_connections()


def start_submission(host, port):
    """Start the SMTP+ server in a background thread and return its aiosmtpd Controller."""
    controller = Controller(
        SubmissionHandler(),
        hostname=host,
        port=port,
        server_hostname="mailup-sim-submission.localhost",
        authenticator=authenticate,
        auth_required=True,
        auth_require_tls=False,
        data_size_limit=settings.SUBMISSION_MAX_MESSAGE_BYTES,
    )
    controller.start()
    logger.info("smtp+ submission listening on %s:%s", host, port)
    if not _is_loopback(host):
        logger.warning("smtp+ submission on %s:%s accepts passwords without TLS from other machines", host, port)
    return controller


def _is_loopback(host):
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
