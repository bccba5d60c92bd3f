"""Switch single sign-on (`POST /Console/Sso`) on or off for an OAuth client."""

from django.core.management.base import BaseCommand, CommandError
from oauth2_provider.models import get_application_model

from integrations import sso


class Command(BaseCommand):
    help = "Enable or disable single sign-on for the OAuth client with the given client id. SSO is off by default."

    def add_arguments(self, parser):
        parser.add_argument("client_id", help="The OAuth client id, as sent to /Authorization/OAuth/Token.")
        switch = parser.add_mutually_exclusive_group(required=True)
        switch.add_argument("--enable", action="store_true", help="Allow this client to issue SSO login links.")
        switch.add_argument("--disable", action="store_true", help="Make POST /Console/Sso return 403 for this client.")

    def handle(self, *args, **options):
        application = get_application_model().objects.filter(client_id=options["client_id"]).first()
        if application is None:
            raise CommandError(f"OAuth client {options['client_id']!r} not found.")

        sso.set_sso_enabled(application, options["enable"])
        state = "enabled" if options["enable"] else "disabled"
        self.stdout.write(f"single sign-on {state} for client {application.client_id}")
