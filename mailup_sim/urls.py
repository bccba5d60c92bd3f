from django.contrib import admin
from django.urls import include, path, re_path

from lists import frontend
from mailup_sim import oauth, rest

# Paths under /frontend/, /api/v1.1/rest/ and /authorization/oauth/ arrive
# lower-cased (mailup_sim.middleware.canonical_path).
urlpatterns = [
    path("frontend/<str:page>", frontend.dispatch),
    path("authorization/oauth/token", oauth.token),
    path("api/v1.1/rest/consoleservice.svc/", include("lists.rest_urls")),
    re_path(r"^api/v1\.1/rest/", rest.not_found),
    path("sink/api/", include("sending.sink_urls")),
    path("admin/", admin.site.urls),
]
