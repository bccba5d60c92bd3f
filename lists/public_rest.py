"""Handlers of PublicService.svc: trial consoles requested by partner applications.

`mailup_sim.rest.client_endpoint` authenticates the application by its
Basic client credentials and sets `request.oauth_client`. The rules are
in lists.trials.
"""

from lists import trials
from mailup_sim.rest import json_response, read_json_object


def trial_activation(request):
    trial = trials.request_trial(request.oauth_client, read_json_object(request))
    return json_response({"Hash": trial.hash, "Id": trial.pk})


def trial_activation_status(request):
    trial = trials.find_trial(request.oauth_client, read_json_object(request))
    code, description = trials.describe_status(trial)
    return json_response({"Code": code, "Description": description})
