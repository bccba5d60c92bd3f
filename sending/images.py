"""Public URLs of the images in the accounts' libraries, which messages link to."""

from django.http import Http404, HttpResponse

from sending.models import Image

# Messages link to these URLs from many mailboxes, so caches may keep them.
IMAGE_CACHE_SECONDS = 86400


def serve_image(request, image_id, name):
    # PostgreSQL cannot compare a text column with a value containing NUL.
    image = Image.objects.filter(pk=image_id, name=name).first() if "\x00" not in name else None
    if image is None:
        raise Http404(f"No image {image_id} named {name}.")
    response = HttpResponse(bytes(image.data), content_type=image.content_type)
    response["Cache-Control"] = f"public, max-age={IMAGE_CACHE_SECONDS}"
    # An SVG opened directly must not run scripts on this origin.
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    response["X-Content-Type-Options"] = "nosniff"
    return response
