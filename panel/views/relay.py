"""The relay's IP pools, warm-up schedules and ISP rules.

These settings belong to the platform, not to one account: every member
reads them, and only an administrator who is also Django staff (the
platform's operator) adds to them.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from panel.access import Role, console_view
from panel.settings_forms import IpPoolForm, IspRuleForm, WarmupScheduleForm
from sending import services as sending_services
from sending.models import IpPool, IspRule, WarmupSchedule

FORMS = {"pool": IpPoolForm, "warmup": WarmupScheduleForm, "rule": IspRuleForm}


def _render(request, forms=None):
    forms = {name: form_class() for name, form_class in FORMS.items()} | (forms or {})
    context = {
        "pools": IpPool.objects.prefetch_related("addresses"),
        "schedules": WarmupSchedule.objects.all(),
        "rules": IspRule.objects.select_related("isp", "pool", "warmup"),
        "forms": forms,
        "can_change": request.user.is_staff and request.membership.role == Role.ADMIN,
    }
    return render(request, "panel/settings/relay.html", context)


@console_view()
def relay_settings(request):
    return _render(request)


def _create(request, name, create):
    """Validate the posted form `name`, call `create` with its data, and show a ValueError on the page."""
    if not request.user.is_staff:
        raise PermissionDenied
    form = FORMS[name](request.POST)
    if form.is_valid():
        try:
            create(form.cleaned_data)
        except ValueError as error:
            form.add_error(None, _("Invalid value: %(detail)s") % {"detail": error})
        else:
            messages.success(request, _("Relay settings saved."))
            return redirect("panel:relay_settings")
    return _render(request, {name: form})


@console_view(role=Role.ADMIN, methods=("POST",))
def ip_pool_create(request):
    def create(data):
        sending_services.create_ip_pool(data["name"], data["addresses"], data["description"])

    return _create(request, "pool", create)


@console_view(role=Role.ADMIN, methods=("POST",))
def warmup_create(request):
    def create(data):
        sending_services.create_warmup_schedule(data["name"], data["hourly_limits"])

    return _create(request, "warmup", create)


@console_view(role=Role.ADMIN, methods=("POST",))
def isp_rule_create(request):
    def create(data):
        options = {name: value for name, value in data.items() if name not in ("name", "pool", "isp")}
        sending_services.create_isp_rule(data["name"], data["pool"], data["isp"], **options)

    return _create(request, "rule", create)
