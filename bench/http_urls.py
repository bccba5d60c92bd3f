"""Every route of mailup-sim plus /bench/ping, the trivial view bench/http.py uses as its ceiling."""

from django.http import HttpResponse
from django.urls import path

from mailup_sim.urls import urlpatterns as platform_urlpatterns


def ping(request):
    return HttpResponse(b"pong", content_type="text/plain")


urlpatterns = [path("bench/ping", ping), *platform_urlpatterns]
