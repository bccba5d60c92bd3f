"""The inbound MX: the platform's return-path and feedback-loop host.

The aiosmtpd handler accepts every message and hands it to
`processing.receive_inbound_message`, a plain synchronous function, in a
thread because the Django ORM is synchronous.
"""

import asyncio
import logging

from aiosmtpd.controller import Controller
from django.db import close_old_connections

from sending.inbound import processing

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 10 * 1024 * 1024


class InboundHandler:
    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, _receive_in_thread, session.peer, envelope.mail_from, envelope.rcpt_tos, raw)
        except Exception:
            logger.exception("inbound MX could not store a message from %s", session.peer)
            return "451 4.3.0 Message could not be stored, try again later"
        return "250 2.0.0 Report received"


def _receive_in_thread(peer, mail_from, rcpt_tos, raw):
    close_old_connections()
    try:
        processing.receive_inbound_message(peer, mail_from, rcpt_tos, raw)
    finally:
        close_old_connections()


def start_inbound_mx(host, port):
    """Start the inbound MX in a background thread and return its aiosmtpd Controller."""
    controller = Controller(
        InboundHandler(),
        hostname=host,
        port=port,
        decode_data=False,
        data_size_limit=MAX_MESSAGE_BYTES,
        server_hostname="mx.mailup-sim.localhost",
    )
    controller.start()
    logger.info("inbound MX listening on %s:%s", host, port)
    return controller
