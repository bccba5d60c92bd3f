"""Routes of PublicService.svc, relative to /api/v1.1/rest/publicservice.svc/ and in lower case."""

from django.urls import path

from lists import public_rest
from mailup_sim.rest import client_endpoint

urlpatterns = [
    path("console/trialactivation", client_endpoint(post=public_rest.trial_activation)),
    path("console/trialactivationstatus", client_endpoint(post=public_rest.trial_activation_status)),
]
