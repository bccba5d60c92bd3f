"""The activation page of a trial console, reached from the link that lists.trials mails to the person.

GET and HEAD only show the page, because mail scanners fetch links before
the person does. The POST of its form opens the console and sets the
password of the console user. The page needs no login and speaks the
language of the trial request.
"""

from django.shortcuts import render
from django.utils import translation
from django.views.decorators.http import require_http_methods

from lists import trials
from lists.errors import InvalidLink, InvalidParameter
from panel.forms import TrialPasswordForm

TEMPLATE = "panel/trial_activation.html"


@require_http_methods(["GET", "HEAD", "POST"])
def trial_activation(request, token):
    trial = trials.find_trial_by_link(token)
    if trial is None:
        with translation.override(translation.get_language_from_request(request) or "it"):
            return render(request, TEMPLATE, {"state": "unknown"}, status=404)

    with translation.override(trial.language):
        state = trials.trial_state(trial)
        if state != trials.PENDING:
            return _state_page(request, trial, state)
        form = TrialPasswordForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            return _activate(request, token, trial, form)
        return render(request, TEMPLATE, {"state": state, "trial": trial, "form": form})


def _activate(request, token, trial, form):
    try:
        trial = trials.activate_trial(token, form.cleaned_data["password"])
    except InvalidParameter as error:
        form.add_error("password", error.message)
        return render(request, TEMPLATE, {"state": trials.PENDING, "trial": trial, "form": form})
    except InvalidLink:
        # Another request activated the trial, or its link expired, since the page was read.
        trial.refresh_from_db()
        return _state_page(request, trial, trials.trial_state(trial))
    return render(request, TEMPLATE, {"state": "done", "trial": trial})


def _state_page(request, trial, state):
    status = 410 if state == trials.EXPIRED else 200
    return render(request, TEMPLATE, {"state": state, "trial": trial}, status=status)
