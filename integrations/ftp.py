"""The FTP server of batch files: pyftpdlib with one login and one jailed home per account.

pyftpdlib runs every connection in one thread on an event loop, so the
database calls made at login and after an upload are short: the upload
hook only hashes the file, records it and queues the import task.
"""

import logging
from dataclasses import dataclass

from django.db import close_old_connections
from pyftpdlib.authorizers import AuthenticationFailed
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.servers import FTPServer

from integrations import ftpzip, services
from integrations.models import FtpTransfer

logger = logging.getLogger(__name__)

# pyftpdlib permission letters: change folder, list, download, delete,
# rename, append and upload. Creating folders is not among them, because
# the server keeps the layout of each home. For the same reason ftp_RNFR
# rejects folders.
PERMISSIONS = "elrdfaw"


class AccountAuthorizer:
    """Log `ftp<console id>` users in with their FtpAccount password and give each its account's home.

    pyftpdlib's AbstractedFS keeps every path inside the home returned
    here: `..` and absolute paths resolve against it.
    """

    def validate_authentication(self, username, password, handler):
        close_old_connections()
        account = services.authenticate_ftp_user(username, password, client_ip=handler.remote_ip)
        if account is None:
            logger.info("ftp login failed username=%s ip=%s", username[:40], handler.remote_ip)
            raise AuthenticationFailed("Authentication failed.")
        handler.account = account

    def get_home_dir(self, username):
        account = _account_of(username)
        if account is None:
            raise AuthenticationFailed("Authentication failed.")
        return str(services.prepare_home(account))

    def has_user(self, username):
        return _account_of(username) is not None

    def has_perm(self, username, perm, path=None):
        return perm in PERMISSIONS

    def get_perms(self, username):
        return PERMISSIONS

    def get_msg_login(self, username):
        return f"Welcome {username}: upload into import/<listId>/ or sendzip/, fetch from export/."

    def get_msg_quit(self, username):
        return "Goodbye."

    def impersonate_user(self, username, password):
        """Run file operations as the server's own user: homes are folders of the server, not system users."""

    def terminate_impersonation(self, username):
        pass


@dataclass(frozen=True)
class TransferLogin:
    """The login that started a transfer: its account, FTP user and file system."""

    account: object
    username: str
    fs: object


def _account_of(username):
    ftp_account = services.find_ftp_account(username)
    return ftp_account.account if ftp_account else None


class BatchFtpHandler(FTPHandler):
    """Queue an import or an FTPZIP run for each completed upload, and for each file renamed into such a name."""

    authorizer = AccountAuthorizer()
    banner = "mailup-sim batch FTP ready."
    account = None
    transfer_login = None

    def pre_process_command(self, line, cmd, arg):
        # The os functions raise ValueError for a path with NUL. pyftpdlib
        # 2.2 does not catch it, so it would log a traceback and close the
        # session. No argument of FTP needs NUL.
        if "\x00" in arg:
            self.respond("501 Syntax error: the argument contains a NUL character.")
            return
        super().pre_process_command(line, cmd, arg)

    def ftp_RETR(self, file):
        self._remember_login()
        return super().ftp_RETR(file)

    def ftp_STOR(self, file, mode="w"):
        # APPE calls this method too.
        self._remember_login()
        return super().ftp_STOR(file, mode)

    def ftp_STOU(self, line):
        self._remember_login()
        return super().ftp_STOU(line)

    def _remember_login(self):
        # USER or REIN during a transfer lets the transfer finish, but the
        # next login replaces the handler's account, user and file system.
        # The transfer's hooks use the login that started it.
        self.transfer_login = TransferLogin(self.account, self.username, self.fs)

    def on_file_received(self, file):
        self._record(FtpTransfer.Direction.UPLOAD, file, completed=True)
        self._receive(self.transfer_login.account, file)

    def on_incomplete_file_received(self, file):
        # NOTE: a STOR whose data connection never opens calls no hook, so
        # it is not recorded, though pyftpdlib created or emptied the file.
        self._record(FtpTransfer.Direction.UPLOAD, file, completed=False)

    def on_file_sent(self, file):
        self._record(FtpTransfer.Direction.DOWNLOAD, file, completed=True)

    def on_incomplete_file_sent(self, file):
        self._record(FtpTransfer.Direction.DOWNLOAD, file, completed=False)

    def ftp_RNFR(self, path):
        # Renaming a folder would move a list's import folder or give a
        # folder any name, such as that of an export or of a .zip in sendzip/.
        if self.fs.isdir(path):
            self.respond("550 Folders cannot be renamed: the server keeps the layout of each home.")
            return
        super().ftp_RNFR(path)

    def ftp_RNTO(self, path):
        # Clients that upload under a temporary name and rename it at the
        # end complete their upload with the rename.
        renamed = super().ftp_RNTO(path)
        if renamed:
            self._receive(self.account, renamed[1])
        return renamed

    def _record(self, direction, path, completed):
        # A failed record must not end the session or stop the import.
        close_old_connections()
        login = self.transfer_login
        try:
            ftp_path = login.fs.fs2ftp(path)
            services.record_ftp_transfer(
                login.account, login.username, direction, ftp_path, path, completed, self.remote_ip
            )
        except Exception:
            logger.exception("ftp transfer record failed account=%s path=%s", login.account.console_id, path)

    def _receive(self, account, path):
        close_old_connections()
        try:
            if ftpzip.is_send_zip(account, path):
                ftpzip.receive_send_zip(account, path)
            else:
                services.receive_upload(account, path)
        except Exception:
            logger.exception("ftp upload hook failed account=%s path=%s", account.console_id, path)


def make_server(host, port, passive_ports=None, passive_address=""):
    """Return an FTPServer bound to host:port on its own event loop; `passive_ports` None lets the kernel choose."""
    handler = type(
        "ConfiguredBatchFtpHandler",
        (BatchFtpHandler,),
        {"passive_ports": passive_ports, "masquerade_address": passive_address or None},
    )
    return FTPServer((host, port), handler, ioloop=IOLoop())
