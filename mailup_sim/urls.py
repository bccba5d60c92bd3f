from django.contrib import admin
from django.urls import include, path, re_path

from integrations import ftpzip_views, soap_import, sso_views
from lists import frontend
from mailup_sim import oauth, oauth_login, openapi, rest
from mailup_sim.rest import endpoint
from panel.views import trial as trial_views
from sending import images, tracking_views, transactional_api
from sending.soap_manage import MANAGE
from sending.soap_report import REPORT
from sending.soap_send import SEND

# Paths under /frontend/, /api/v1.1/rest/, /authorization/oauth/ and the
# transactional /api/v2.0/ prefixes arrive lower-cased
# (mailup_sim.middleware.canonical_path), and so do paths ending in .asmx.
urlpatterns = [
    *SEND.urls(),
    *MANAGE.urls(),
    *REPORT.urls(),
    path("frontend/<str:page>", frontend.dispatch),
    path("authorization/oauth/token", oauth.token),
    path("authorization/oauth/logon", oauth_login.logon),
    path("authorization/oauth/authorization", oauth_login.logon),
    path("api/v1.1/rest/consoleservice.svc/console/sso", endpoint(post=sso_views.issue_login_link)),
    path("api/v1.1/rest/consoleservice.svc/", include("lists.rest_urls")),
    path("api/v1.1/rest/consoleservice.svc/", include("sending.rest_urls")),
    path("api/v1.1/rest/mailstatisticsservice.svc/", include("sending.rest_statistics_urls")),
    path("api/v1.1/rest/publicservice.svc/", include("lists.public_rest_urls")),
    re_path(r"^api/v1\.1/rest/", rest.not_found),
    *soap_import.SERVICE.urls(),
    path("API/v1.1/openapi.json", openapi.openapi_json),
    path("api/v1.1/openapi.json", openapi.openapi_json),
    path("api/v2.0/messages/sendmessage", transactional_api.send_message),
    path("api/v2.0/messages/sendtemplate", transactional_api.send_template),
    path("api/v2.0/sms/<int:account_id>/<int:list_id>", transactional_api.send_sms),
    path("api/v2.0/lists/<int:list_id>/listsecret", transactional_api.list_secret),
    # Negative or non-numeric ids, and unknown paths, get the JSON error of these APIs rather than an HTML page.
    re_path(r"^api/v2\.0/", transactional_api.not_found),
    path("sink/api/", include("sending.sink_urls")),
    path("sim/api/v1/", include("integrations.admin_api_urls")),
    path("sim/media/ftpzip/<int:send_zip_id>/<path:name>", ftpzip_views.serve_image),
    # The link that POST /Console/Sso returns, and its lower-case spelling.
    path("Console/Login.aspx", sso_views.redeem_login_link),
    path("console/login.aspx", sso_views.redeem_login_link),
    path("images/<int:image_id>/<str:name>", images.serve_image),
    # The link of a trial activation mail. Unlike the panel's pages it needs
    # no login, so it is outside the panel's URLs. The token is case-sensitive.
    path("console/trial/<str:token>", trial_views.trial_activation, name="trial_activation"),
    path("console/", include("panel.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("track/open/<int:delivery_id>/<str:signature>.gif", tracking_views.open_pixel),
    path("track/click/<int:delivery_id>/<str:signature>/<int:number>", tracking_views.click),
    path("admin/", admin.site.urls),
]
