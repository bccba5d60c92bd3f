"""CSV upload into a list through the shared import engine, with its progress."""

import logging

from django import forms
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from integrations import csv_import
from integrations import services as integration_services
from integrations.models import ImportFile
from panel.access import Role, console_view
from panel.paging import keyset_page
from panel.views.lists import get_list

logger = logging.getLogger(__name__)

FINISHED = {ImportFile.Status.DONE, ImportFile.Status.DUPLICATE, ImportFile.Status.REJECTED, ImportFile.Status.FAILED, ImportFile.Status.SUPERSEDED}


class UploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("CSV or ZIP file"),
        help_text=gettext_lazy("The first line names the columns by code, separated by |: 111 for the e-mail address, 1 to 39 for fields, status and groups."),
    )


@console_view(role=Role.EDITOR, methods=("GET", "POST"))
def import_upload(request, list_id):
    mailing_list = get_list(request, list_id)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            upload = integration_services.receive_panel_upload(request.account, mailing_list, form.cleaned_data["file"])
        except csv_import.FileRejected as error:
            logger.info("panel upload rejected list=%s error=%s", mailing_list.pk, error)
            form.add_error("file", _("Upload a .csv or .zip file no larger than the import limit."))
        else:
            return redirect("panel:import_detail", import_id=upload.pk)
    page = keyset_page(ImportFile.objects.filter(list=mailing_list), request.GET, newest_first=True)
    return render(request, "panel/imports/upload.html", {"form": form, "list": mailing_list, "recent": page.items, "page": page})


def get_import(request, import_id):
    return get_object_or_404(ImportFile.objects.select_related("list"), account=request.account, pk=import_id)


@console_view()
def import_detail(request, import_id):
    upload = get_import(request, import_id)
    return render(request, "panel/imports/detail.html", {"upload": upload, "finished": upload.status in FINISHED})


@console_view()
def import_status(request, import_id):
    """Return the import's status and counts as JSON, for the progress bar."""
    upload = get_import(request, import_id)
    return JsonResponse(
        {
            "status": upload.status,
            "status_label": upload.get_status_display(),
            "finished": upload.status in FINISHED,
            "created": upload.created,
            "updated": upload.updated,
            "unchanged": upload.unchanged,
            "rejected": upload.rejected,
            "error": upload.error,
        }
    )
