"""Saved filters of a list: list, create, edit and delete them, and count the recipients each matches.

sending.services.save_filter checks the conditions; the view shows its
errors on the form.
"""

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from panel.access import Role, console_view
from panel.forms import SavedFilterForm, filter_row_count
from panel.paging import keyset_page
from panel.views.lists import get_list
from sending import services as sending_services
from sending.filters import FilterError
from sending.models import SavedFilter


def get_saved_filter(request, filter_id):
    filters = SavedFilter.objects.select_related("list")
    return get_object_or_404(filters, list__account=request.account, pk=filter_id)


@console_view()
def filter_index(request, list_id):
    mailing_list = get_list(request, list_id)
    page = keyset_page(mailing_list.saved_filters.all(), request.GET)
    context = {"list": mailing_list, "filters": page.items, "page": page}
    return render(request, "panel/filters/index.html", context)


def _edit(request, mailing_list, saved_filter):
    if request.method == "POST":
        form = SavedFilterForm(request.POST, account=request.account, rows=filter_row_count(data=request.POST))
    else:
        initial = SavedFilterForm.initial_for(saved_filter) if saved_filter else {}
        form = SavedFilterForm(initial=initial, account=request.account, rows=filter_row_count(saved_filter=saved_filter))

    if request.method == "POST" and form.is_valid():
        try:
            saved = sending_services.save_filter(
                mailing_list, form.cleaned_data["name"], form.conditions(), form.cleaned_data["match"], saved_filter
            )
        except (FilterError, ValueError) as error:
            form.add_error(None, _("Invalid value: %(detail)s") % {"detail": error})
        else:
            messages.success(request, _("Filter %(name)s saved.") % {"name": saved.name})
            return redirect("panel:filter_index", list_id=mailing_list.list_id)
    context = {"list": mailing_list, "form": form, "filter": saved_filter}
    return render(request, "panel/filters/form.html", context)


@console_view(role=Role.EDITOR, methods=("GET", "POST"))
def filter_create(request, list_id):
    return _edit(request, get_list(request, list_id), None)


@console_view(role=Role.EDITOR, methods=("GET", "POST"))
def filter_edit(request, filter_id):
    saved_filter = get_saved_filter(request, filter_id)
    return _edit(request, saved_filter.list, saved_filter)


@console_view(role=Role.EDITOR, methods=("POST",))
def filter_delete(request, filter_id):
    saved_filter = get_saved_filter(request, filter_id)
    try:
        sending_services.delete_filter(saved_filter)
    except ValueError as error:
        messages.error(request, _("Not deleted: %(reason)s") % {"reason": error})
    else:
        messages.success(request, _("Filter %(name)s deleted.") % {"name": saved_filter.name})
    return redirect("panel:filter_index", list_id=saved_filter.list.list_id)


@console_view()
def filter_count(request, filter_id):
    """Return, as JSON, how many recipients of the list the filter matches now, in any subscription state."""
    saved_filter = get_saved_filter(request, filter_id)
    return JsonResponse({"count": sending_services.filter_recipients(saved_filter).count()})
