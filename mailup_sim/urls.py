from django.contrib import admin
from django.urls import include, path

from lists import frontend

urlpatterns = [
    path("frontend/<str:page>", frontend.dispatch),
    path("sink/api/", include("sending.sink_urls")),
    path("admin/", admin.site.urls),
]
