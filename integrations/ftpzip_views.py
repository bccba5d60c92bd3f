"""The public address of FTPZIP message images, which the messages' HTML links to."""

from django.http import FileResponse, Http404
from django.views.decorators.http import require_GET

from integrations import ftpzip
from integrations.ftpzip_package import IMAGE_TYPES


@require_GET
def serve_image(request, send_zip_id, name):
    path = ftpzip.image_path(send_zip_id, name)
    if path is None:
        raise Http404("No such FTPZIP image.")
    response = FileResponse(open(path, "rb"), content_type=IMAGE_TYPES[path.suffix.lower()])
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "public, max-age=86400"
    return response
