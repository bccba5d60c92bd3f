"""The limits each simulated ISP sets on a sending IP, enforced by the sink with 421 replies.

SINK_ISP_LIMITS lists, per ISP key, the messages per hour, the open
connections and the messages per connection that one source IP may use.
The sink is one server for every ISP, so a session counts as a connection
to the ISP of its first recipient. Counts live in the sink's memory and
restart with it, and the hour comes from sending.clock so tests can move
it.
"""

import threading
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from sending import clock
from sending.isp import isp_for


@dataclass(frozen=True)
class IspLimits:
    per_hour: int | None = None
    connections: int | None = None
    per_connection: int | None = None


UNLIMITED = IspLimits()
# Sessions are remembered until this many exist, then closed ones are forgotten.
FORGET_SESSIONS_AFTER = 256


@lru_cache(maxsize=4)
def parse_limits(text):
    """Parse `isp=per_hour/connections/per_connection,...` into {isp: IspLimits}; 0 means unlimited."""
    limits = {}
    for entry in filter(None, (item.strip() for item in text.split(","))):
        isp, _, values = entry.partition("=")
        numbers = values.split("/")
        if not isp.strip() or len(numbers) != 3 or not all(number.strip().isdigit() for number in numbers):
            raise ImproperlyConfigured(
                f"SINK_ISP_LIMITS entry {entry!r} is invalid; write isp=per_hour/connections/per_connection, such as gmail=3600/10/100."
            )
        per_hour, connections, per_connection = (int(number) or None for number in numbers)
        limits[isp.strip()] = IspLimits(per_hour, connections, per_connection)
    return limits


class _Session:
    def __init__(self, server):
        self.server = server
        self.isp = None
        self.peer_ip = None
        self.messages = 0

    @property
    def open(self):
        # aiosmtpd drops the transport when the connection is lost.
        return self.server.transport is not None


class SinkLimiter:
    """Counts per source IP and ISP; one instance serves one sink."""

    def __init__(self):
        self.lock = threading.Lock()
        self.hourly = {}
        self.sessions = {}

    def check_recipient(self, server, peer_ip, address):
        """Return a 421 reply when accepting `address` in this session would pass a limit, else None.

        An accepted recipient counts towards the hourly limit at once, so
        concurrent sessions cannot pass it together.
        """
        isp = isp_for(address)
        limits = parse_limits(settings.SINK_ISP_LIMITS).get(isp, UNLIMITED)
        with self.lock:
            session = self._session(server)
            if session.isp is None:
                reply = self._bind(session, isp, peer_ip, limits)
                if reply:
                    return reply
            if limits.per_connection and session.messages >= limits.per_connection:
                return f"421 4.7.0 Too many messages in this connection to {isp}; at most {limits.per_connection}."
            return self._count_hourly(isp, peer_ip, limits)

    def message_accepted(self, server):
        with self.lock:
            self._session(server).messages += 1

    def _session(self, server):
        key = id(server)
        session = self.sessions.get(key)
        if session is None or session.server is not server:
            if len(self.sessions) >= FORGET_SESSIONS_AFTER:
                self._forget_closed()
            session = self.sessions[key] = _Session(server)
        return session

    def _bind(self, session, isp, peer_ip, limits):
        if limits.connections:
            self._forget_closed()
            peers = [item for item in self.sessions.values() if item.isp == isp and item.peer_ip == peer_ip]
            if len(peers) >= limits.connections:
                return f"421 4.7.0 Too many connections from {peer_ip} to {isp}; at most {limits.connections}."
        session.isp = isp
        session.peer_ip = peer_ip
        return None

    def _forget_closed(self):
        for key in [key for key, item in self.sessions.items() if not item.open]:
            del self.sessions[key]

    def _count_hourly(self, isp, peer_ip, limits):
        hour = clock.hour_start(clock.now())
        key = (isp, peer_ip, hour)
        if key not in self.hourly:
            self.hourly = {item: count for item, count in self.hourly.items() if item[2] >= hour}
        used = self.hourly.get(key, 0)
        if limits.per_hour and used >= limits.per_hour:
            return f"421 4.7.0 Rate limit: {peer_ip} sent {limits.per_hour} messages to {isp} this hour; try later."
        self.hourly[key] = used + 1
        return None
