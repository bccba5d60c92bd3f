"""Account settings: FrontEnd allow-list, users, OAuth clients and SSO, FTP, DKIM keys and DNS records, SMTP+ users.

Every member reads these pages and only an administrator changes them. Rows
are looked up through the member's account, so another account's ids get 404.
"""

import logging

from django.contrib import messages
from django.contrib.auth.hashers import is_password_usable
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from integrations import services as integration_services
from integrations import sso
from integrations.models import DEFAULT_EXPORT_TIME, FtpAccount, ImportFile, UnsubscribeExport
from lists import account_settings
from lists.errors import InvalidParameter
from lists.models import AccountUser
from panel.access import Role, console_view
from panel.paging import keyset_page
from panel.settings_forms import (
    ConsoleUserForm,
    FrontendAddressForm,
    FrontendRestrictionForm,
    FtpPasswordForm,
    FtpSettingsForm,
    OAuthClientForm,
    RoleForm,
    SmtpUserForm,
    SsoSwitchForm,
    WebServicePasswordForm,
)
from sending import dkim_signing, dns_zone, transactional
from sending.models import DkimKey, SmtpUser

logger = logging.getLogger(__name__)


def _not_saved(request, error):
    logger.info("panel setting rejected account=%s path=%s field=%s", request.account.console_id, request.path, error.field)
    messages.error(request, _("Not saved: %(reason)s") % {"reason": error.message})


# --- FrontEnd allow-list -------------------------------------------------------


@console_view()
def frontend_settings(request):
    addresses = keyset_page(account_settings.frontend_addresses(request.account), request.GET)
    context = {
        "addresses": addresses.items,
        "page": addresses,
        "form": FrontendAddressForm(),
        "restriction_form": FrontendRestrictionForm(initial={"restricted": request.account.frontend_ip_restricted}),
    }
    return render(request, "panel/settings/frontend.html", context)


@console_view(role=Role.ADMIN, methods=("POST",))
def frontend_address_add(request):
    form = FrontendAddressForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("The IP address is missing."))
        return redirect("panel:frontend_settings")

    try:
        address = account_settings.allow_frontend_address(request.account, form.cleaned_data["ip"])
    except InvalidParameter as error:
        _not_saved(request, error)
    else:
        messages.success(request, _("Address %(ip)s allowed.") % {"ip": address.ip})
    return redirect("panel:frontend_settings")


@console_view(role=Role.ADMIN, methods=("POST",))
def frontend_address_remove(request, address_id):
    if not account_settings.remove_frontend_address(request.account, address_id):
        raise Http404
    messages.success(request, _("Address removed."))
    return redirect("panel:frontend_settings")


@console_view(role=Role.ADMIN, methods=("POST",))
def frontend_restriction(request):
    form = FrontendRestrictionForm(request.POST)
    restricted = form.is_valid() and form.cleaned_data["restricted"]
    account_settings.set_frontend_restriction(request.account, restricted)
    messages.success(request, _("FrontEnd access saved."))
    return redirect("panel:frontend_settings")


# --- Console users -------------------------------------------------------------


def _member(request, member_id):
    members = AccountUser.objects.select_related("user", "account")
    return get_object_or_404(members, account=request.account, pk=member_id)


def _render_users(request, form):
    members = keyset_page(request.account.members.select_related("user"), request.GET)
    context = {"members": members.items, "page": members, "form": form, "role_form": RoleForm(), "ws_form": WebServicePasswordForm()}
    return render(request, "panel/settings/users.html", context)


@console_view()
def user_settings(request):
    return _render_users(request, ConsoleUserForm())


@console_view(role=Role.ADMIN, methods=("POST",))
def user_add(request):
    form = ConsoleUserForm(request.POST)
    if not form.is_valid():
        return _render_users(request, form)

    try:
        member = account_settings.add_console_user(request.account, **form.cleaned_data)
    except InvalidParameter as error:
        form.add_error(error.field if error.field in form.fields else None, error.message)
        return _render_users(request, form)
    messages.success(request, _("User %(name)s added.") % {"name": member.user.username})
    return redirect("panel:user_settings")


@console_view(role=Role.ADMIN, methods=("POST",))
def user_role(request, member_id):
    member = _member(request, member_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a role."))
        return redirect("panel:user_settings")

    try:
        account_settings.change_console_user_role(member, form.cleaned_data["role"])
    except InvalidParameter as error:
        _not_saved(request, error)
    else:
        messages.success(request, _("Role of %(name)s saved.") % {"name": member.user.username})
    return redirect("panel:user_settings")


@console_view(role=Role.ADMIN, methods=("POST",))
def user_remove(request, member_id):
    member = _member(request, member_id)
    try:
        account_settings.remove_console_user(member)
    except InvalidParameter as error:
        _not_saved(request, error)
    else:
        messages.success(request, _("User %(name)s removed.") % {"name": member.user.username})
    return redirect("panel:user_settings")


@console_view(role=Role.ADMIN, methods=("POST",))
def web_service_password(request):
    form = WebServicePasswordForm(request.POST)
    try:
        account_settings.set_web_service_password(request.account, form.data.get("password", ""))
    except InvalidParameter as error:
        _not_saved(request, error)
    else:
        messages.success(request, _("Web-service password changed."))
    return redirect("panel:user_settings")


# --- OAuth clients and SSO -------------------------------------------------------


def _client(request, client_pk):
    return get_object_or_404(sso.account_oauth_clients(request.account), pk=client_pk)


@console_view()
def oauth_settings(request):
    clients = keyset_page(sso.account_oauth_clients(request.account), request.GET)
    context = {"clients": clients.items, "page": clients, "form": OAuthClientForm()}
    return render(request, "panel/settings/oauth.html", context)


@console_view(role=Role.ADMIN, methods=("POST",))
def oauth_client_add(request):
    form = OAuthClientForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("The client name is missing."))
        return redirect("panel:oauth_settings")

    application, secret = sso.create_oauth_client(request.account, request.user, form.cleaned_data["name"])
    context = {"client": application, "secret": secret}
    return render(request, "panel/settings/oauth_created.html", context)


@console_view(role=Role.ADMIN, methods=("POST",))
def oauth_client_sso(request, client_pk):
    application = _client(request, client_pk)
    form = SsoSwitchForm(request.POST)
    enabled = form.is_valid() and form.cleaned_data["enabled"]
    sso.set_sso_enabled(application, enabled)
    messages.success(request, _("Single sign-on saved for %(name)s.") % {"name": application.name})
    return redirect("panel:oauth_settings")


@console_view(role=Role.ADMIN, methods=("POST",))
def oauth_client_delete(request, client_pk):
    application = _client(request, client_pk)
    sso.delete_oauth_client(application)
    messages.success(request, _("Client %(name)s deleted.") % {"name": application.name})
    return redirect("panel:oauth_settings")


# --- FTP -------------------------------------------------------------------------


@console_view()
def ftp_settings(request):
    ftp_account = FtpAccount.objects.filter(account=request.account).first()
    initial = {
        "full_import": ftp_account.full_import if ftp_account else False,
        "export_time": ftp_account.export_time if ftp_account else DEFAULT_EXPORT_TIME,
    }
    uploads = ImportFile.objects.filter(account=request.account).select_related("list")
    exports = UnsubscribeExport.objects.filter(list__account=request.account).select_related("list")
    context = {
        "password_set": ftp_account is not None and is_password_usable(ftp_account.password),
        "username": f"ftp{request.account.console_id}",
        "form": FtpSettingsForm(initial=initial),
        "password_form": FtpPasswordForm(),
        "uploads": keyset_page(uploads, request.GET, newest_first=True),
        "exports": keyset_page(exports, request.GET, newest_first=True, prefix="exports_"),
    }
    return render(request, "panel/settings/ftp.html", context)


@console_view(role=Role.ADMIN, methods=("POST",))
def ftp_settings_save(request):
    form = FtpSettingsForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give the export time as HH:MM."))
        return redirect("panel:ftp_settings")

    integration_services.update_ftp_settings(request.account, **form.cleaned_data)
    messages.success(request, _("FTP settings saved."))
    return redirect("panel:ftp_settings")


@console_view(role=Role.ADMIN, methods=("POST",))
def ftp_password(request):
    form = FtpPasswordForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("An FTP password has at least 10 characters."))
        return redirect("panel:ftp_settings")

    integration_services.set_ftp_password(request.account, form.cleaned_data["password"])
    messages.success(request, _("FTP password changed."))
    return redirect("panel:ftp_settings")


# --- DKIM and DNS ------------------------------------------------------------------


@console_view()
def dkim_settings(request):
    context = {
        "keys": DkimKey.objects.filter(account=request.account).only("selector", "algorithm", "created_at"),
        "records": dns_zone.records_to_publish(request.account),
    }
    return render(request, "panel/settings/dkim.html", context)


@console_view(role=Role.ADMIN, methods=("POST",))
def dkim_keys_create(request):
    """Create the account's missing DKIM keys; existing keys stay, so published records stay valid."""
    dkim_signing.account_keys(request.account)
    messages.success(request, _("DKIM keys ready."))
    return redirect("panel:dkim_settings")


@console_view()
def settings_index(request):
    return render(request, "panel/settings/index.html")


# --- SMTP+ users -------------------------------------------------------------------


@console_view()
def smtp_settings(request):
    users = keyset_page(SmtpUser.objects.filter(account=request.account).select_related("list"), request.GET)
    context = {"smtp_users": users.items, "page": users, "form": SmtpUserForm(account=request.account)}
    return render(request, "panel/settings/smtp.html", context)


@console_view(role=Role.ADMIN, methods=("POST",))
def smtp_user_add(request):
    form = SmtpUserForm(request.POST, account=request.account)
    if not form.is_valid():
        messages.error(request, _("Choose a list of this console."))
        return redirect("panel:smtp_settings")

    mailing_list = request.account.lists.get(list_id=form.cleaned_data["list"])
    smtp_user, secret = transactional.create_smtp_user(mailing_list)
    return render(request, "panel/settings/smtp_created.html", {"smtp_user": smtp_user, "secret": secret})
