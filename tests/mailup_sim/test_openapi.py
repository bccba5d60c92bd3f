"""The OpenAPI description at /API/v1.1/openapi.json, and schemathesis checking the server against it.

schemathesis generates requests for every operation from the description
and checks that none gets a 5xx, and that each status and JSON body is
one the description declares. The examples per operation are few and
fixed (derandomized), so the run stays short and repeatable.
"""

import base64

import pytest
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, Phase, settings
from oauth2_provider.models import AccessToken, get_application_model

from lists.demo import DEMO_CONSOLE_PASSWORD, DEMO_OAUTH_CLIENT_ID, DEMO_OAUTH_CLIENT_SECRET, seed_demo
from mailup_sim.openapi import build_openapi

schemathesis = pytest.importorskip("schemathesis")
from schemathesis import checks  # noqa: E402

schema = schemathesis.openapi.from_dict(build_openapi())
schema.app = get_wsgi_application()

# Examples per operation; each runs against a fresh demo console.
EXAMPLES_PER_OPERATION = 3
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.response_schema_conformance]
# PublicService authenticates the OAuth client with HTTP Basic, not a bearer token.
PUBLIC_SERVICE = "/API/v1.1/Rest/PublicService.svc/"
CLIENT_BASIC = base64.b64encode(f"{DEMO_OAUTH_CLIENT_ID}:{DEMO_OAUTH_CLIENT_SECRET}".encode()).decode()


@pytest.fixture
def bearer(db, settings):
    """A valid access token of the demo console user, stored directly.

    The calls run in-process inside the test's transaction, so nothing is
    committed: no mail or task leaves the test.
    """
    settings.REST_RATE_LIMIT_PER_SECOND = 0
    seed_demo()
    application = get_application_model().objects.get(client_id=DEMO_OAUTH_CLIENT_ID)
    token = AccessToken.objects.create(
        user=application.user,
        application=application,
        token="schemathesis-token",
        expires=timezone.now() + timezone.timedelta(hours=1),
        scope="console",
    )
    return {"Authorization": f"Bearer {token.token}"}


@pytest.fixture(autouse=True)
def keep_test_connection():
    """Keep Django from closing the test's database connection at the end of each in-process request.

    Django's own test client does the same, because the connection holds
    the test's open transaction.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_description_served(client):
    response = client.get("/API/v1.1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert "/API/v1.1/Rest/ConsoleService.svc/Console/List/{list_id}/Recipients/Subscribed" in document["paths"]


def test_every_route_described():
    operations = sum(len(item) for item in build_openapi()["paths"].values())
    assert operations >= 75


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms(case, bearer):
    headers = bearer
    if case.path.startswith(PUBLIC_SERVICE):
        headers = {"Authorization": f"Basic {CLIENT_BASIC}"}
    elif case.path.endswith("/listsecret"):
        # The ListSecret calls take the console user's password, not a token.
        credentials = base64.b64encode(f"m1234:{DEMO_CONSOLE_PASSWORD}".encode()).decode()
        headers = {"Authorization": f"Basic {credentials}"}
    case.call_and_validate(headers=headers, checks=CHECKS)
