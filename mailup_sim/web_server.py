"""The gunicorn command line of the web part, without Django imports, so bench scripts can start the same server."""

import sys


def gunicorn_command(bind, workers, threads):
    """Return the command line of the web part. bench/endpoints.py starts the same layout."""
    command = [
        sys.executable, "-m", "gunicorn", "mailup_sim.wsgi:application",
        "--bind", bind, "--workers", str(workers), "--threads", str(threads),
        # gthread keeps connections alive between requests, also with one thread.
        "--worker-class", "gthread",
        # Gunicorn's control socket has one fixed path per user, so a second
        # copy of serve (or a test's) would take it over. serve stops its
        # children by signal and does not need the socket.
        "--no-control-socket",
    ]  # fmt: skip
    if is_tcp_bind(bind):
        # Each worker listens on a socket of its own, and the kernel spreads
        # new connections over them. On one shared socket the first worker to
        # wake took most of 50 keep-alive connections (44 of 50 in one run)
        # while the others idled.
        # NOTE: a worker that stops (a graceful restart on HUP, a crash)
        # closes its own socket, and Linux resets the connections still
        # waiting in it. With gunicorn 27.0.1 and a one-line WSGI app, 8
        # clients saw 8 resets in about 23,000 requests over three HUPs,
        # and none with one shared socket.
        command.append("--reuse-port")
    return command


def is_tcp_bind(bind):
    """Return whether a gunicorn bind address is a TCP host and port.

    Linux rejects SO_REUSEPORT on unix sockets (EOPNOTSUPP), and gunicorn
    27 workers asked for it fail to bind and are restarted again and again.
    So `unix:` binds, and inherited `fd://` sockets too, keep the one socket
    that the master opens.
    """
    return not bind.startswith(("unix:", "fd://"))
