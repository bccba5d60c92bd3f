"""Lists and groups: browse, create, edit and delete."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from lists import services
from lists.errors import InvalidParameter, ListBusy
from lists.models import Group, List
from panel.access import Role, console_view
from panel.counts import subscription_counts
from panel.forms import GroupForm, ListForm
from panel.paging import keyset_page, read_id

MAX_LISTS_SHOWN = 500


def get_list(request, list_id):
    """Return the account's list `list_id` (a number or its text, as a form posts it), or raise Http404."""
    if read_id(str(list_id)) is None or len(str(list_id)) > 10:
        raise Http404
    return get_object_or_404(List, account=request.account, list_id=list_id)


def get_group(request, group_id):
    """Return a group of one of the account's lists, or raise Http404."""
    if read_id(str(group_id)) is None:
        raise Http404
    return get_object_or_404(Group.objects.select_related("list"), list__account=request.account, pk=group_id)


@console_view()
def list_index(request):
    page = keyset_page(request.account.lists.all(), request.GET)
    return render(request, "panel/lists/index.html", {"lists": page.items, "page": page})


@console_view()
def list_detail(request, list_id):
    mailing_list = get_list(request, list_id)
    counts = subscription_counts([mailing_list.pk])[mailing_list.pk]
    groups = keyset_page(mailing_list.groups.all(), request.GET)
    context = {"list": mailing_list, "groups": groups.items, "groups_page": groups, "counts": counts}
    return render(request, "panel/lists/detail.html", context)


@console_view(role=Role.EDITOR, methods=("GET", "POST"))
def list_create(request):
    form = ListForm(request.POST or None, initial={"language": request.account.language})
    if request.method == "POST" and form.is_valid():
        mailing_list = services.create_list(request.account, form.cleaned_data)
        messages.success(request, _("List %(name)s created.") % {"name": mailing_list.name})
        return redirect("panel:list_detail", list_id=mailing_list.list_id)
    return render(request, "panel/lists/form.html", {"form": form})


@console_view(role=Role.EDITOR, methods=("GET", "POST"))
def list_edit(request, list_id):
    mailing_list = get_list(request, list_id)
    form = ListForm(request.POST or None, instance=mailing_list)
    if request.method == "POST" and form.is_valid():
        services.update_list(mailing_list, {name: form.cleaned_data[name] for name in form.changed_data})
        messages.success(request, _("List settings saved."))
        return redirect("panel:list_detail", list_id=mailing_list.list_id)
    return render(request, "panel/lists/form.html", {"form": form, "list": mailing_list})


@console_view(role=Role.ADMIN, methods=("POST",))
def list_delete(request, list_id):
    mailing_list = get_list(request, list_id)
    try:
        services.delete_list(mailing_list)
    except ListBusy:
        messages.error(request, _("The list has a sending in progress. Stop it or wait until it is done, then delete the list."))
        return redirect("panel:list_detail", list_id=mailing_list.list_id)
    messages.success(request, _("List %(name)s deleted.") % {"name": mailing_list.name})
    return redirect("panel:list_index")


@console_view(role=Role.EDITOR, methods=("POST",))
def group_create(request, list_id):
    mailing_list = get_list(request, list_id)
    form = GroupForm(request.POST)
    if form.is_valid():
        services.create_group(mailing_list, form.cleaned_data["name"], form.cleaned_data["notes"])
        messages.success(request, _("Group created."))
    else:
        messages.error(request, _("The group name is missing."))
    return redirect("panel:list_detail", list_id=mailing_list.list_id)


@console_view(role=Role.EDITOR, methods=("GET", "POST"))
def group_edit(request, group_id):
    group = get_group(request, group_id)
    form = GroupForm(request.POST or None, initial={"name": group.name, "notes": group.notes})
    if request.method == "POST" and form.is_valid():
        try:
            services.update_group(group, form.cleaned_data["name"], form.cleaned_data["notes"])
        except InvalidParameter:
            form.add_error("name", _("The group name is missing."))
        else:
            messages.success(request, _("Group saved."))
            return redirect("panel:list_detail", list_id=group.list.list_id)
    return render(request, "panel/lists/group_form.html", {"form": form, "group": group})


@console_view(role=Role.EDITOR, methods=("POST",))
def group_delete(request, group_id):
    group = get_group(request, group_id)
    services.delete_group(group)
    messages.success(request, _("Group %(name)s deleted.") % {"name": group.name})
    return redirect("panel:list_detail", list_id=group.list.list_id)
