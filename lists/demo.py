"""The demo console that `seed_demo` creates, identical on every run."""

import uuid

from django.contrib.auth import get_user_model
from django.db import transaction

from lists.models import Account, AccountUser, FieldDefinition, Group, List, WebService

DEMO_CONSOLE_ID = 1234
DEMO_CONSOLE_PASSWORD = "demo-console-1234"
DEMO_WS_PASSWORD = "demo-ws-1234"
DEMO_OAUTH_CLIENT_ID = "mailup-sim-demo-client"
DEMO_OAUTH_CLIENT_SECRET = "demo-client-secret-1234"
DEMO_ALLOWED_IP = "127.0.0.1"
DEMO_FTP_PASSWORD = "demo-ftp-1234"
# SMTP+ user of list 1 for transactional mail.
DEMO_SMTP_USERNAME = "s1234_01"
DEMO_SMTP_SECRET = "demo-smtp-1234"

DEMO_LISTS = [
    {
        "list_id": 1,
        "guid": uuid.UUID("0b6f4f5e-3c1a-4d2b-9e8f-1a2b3c4d5e01"),
        "name": "Newsletter",
        "language": "it",
        "sender_name": "Demo Newsletter",
        "sender_email": "newsletter@demo.example",
        "groups": ["Clienti", "Prospect"],
    },
    {
        "list_id": 2,
        "guid": uuid.UUID("0b6f4f5e-3c1a-4d2b-9e8f-1a2b3c4d5e02"),
        "name": "Offers",
        "language": "en",
        "sender_name": "Demo Offers",
        "sender_email": "offers@demo.example",
        "groups": ["VIP"],
    },
]

# MailUp's default field names for ids 1 to 26; ids 27 to 39 are campo27 …
# campo39 until renamed.
DEFAULT_FIELD_NAMES = {
    "it": [
        "nome", "cognome", "azienda", "città", "provincia", "cap", "regione", "paese", "indirizzo", "fax",
        "telefono", "IDCliente", "IDUltimoOrdine", "DataUltimoOrdine", "TotaleUltimoOrdine",
        "IDProdottiUltimoOrdine", "IDCategorieUltimoOrdine", "DataUltimoOrdineSpedito", "IDUltimoOrdineSpedito",
        "DataCarrelloAbbandonato", "TotaleCarrelloAbbandonato", "IDCarrelloAbbandonato", "TotaleFatturato",
        "TotaleFatturatoUltimi12Mesi", "TotaleFatturatoUltimi30gg", "IDTuttiProdottiAcquistati",
    ],
    "en": [
        "FirstName", "LastName", "Company", "City", "Province", "ZIP", "State", "Region", "Address", "Gender",
        "phone", "CustomerID", "LatestOrderID", "LatestOrderDate", "LatestOrderAmount", "LatestOrderProductIDs",
        "LatestOrderCategoryIDs", "LatestShippedOrderDate", "LatestShippedOrderID", "LatestAbandonedCartDate",
        "LatestAbandonedCartTotal", "LatestAbandonedCartID", "TotalOrdered", "TotalOrderedLast12m",
        "TotalOrderedLast30d", "AllOrderedProductIDs",
    ],
}  # fmt: skip


def demo_password_grant_form(password=DEMO_CONSOLE_PASSWORD, client_secret=DEMO_OAUTH_CLIENT_SECRET):
    """Return the form of an OAuth password grant for the demo console user and the demo client."""
    return {
        "grant_type": "password",
        "username": f"m{DEMO_CONSOLE_ID}",
        "password": password,
        "client_id": DEMO_OAUTH_CLIENT_ID,
        "client_secret": client_secret,
    }


def default_field_name(language, field_id):
    names = DEFAULT_FIELD_NAMES[language]
    return names[field_id - 1] if field_id <= len(names) else f"campo{field_id}"


@transaction.atomic
def seed_demo():
    """Create or reset the demo console and return its description (see `describe`)."""
    account, _ = Account.objects.get_or_create(console_id=DEMO_CONSOLE_ID, defaults={"name": "Demo S.r.l."})
    account.name = "Demo S.r.l."
    account.status = Account.Status.ACTIVE
    account.language = "it"
    account.frontend_ip_restricted = True
    account.set_ws_password(DEMO_WS_PASSWORD)
    account.save()

    _seed_console_user(account)
    _seed_fields(account)
    for spec in DEMO_LISTS:
        _seed_list(account, spec)
    for name in (WebService.Name.FRONTEND, WebService.Name.IMPORT):
        _seed_web_service(account, name)
    _seed_oauth_client(account)
    _seed_ftp_account(account)
    _seed_relay()
    _seed_smtp_user(account)
    return describe(account)


def _seed_console_user(account):
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username=account.console_username)
    user.set_password(DEMO_CONSOLE_PASSWORD)
    user.is_active = True
    user.save()
    AccountUser.objects.update_or_create(user=user, defaults={"account": account, "role": AccountUser.Role.ADMIN})


def _seed_fields(account):
    for field_id in range(1, 40):
        FieldDefinition.objects.update_or_create(
            account=account, field_id=field_id, defaults={"name": default_field_name(account.language, field_id)}
        )


def _seed_list(account, spec):
    values = {key: value for key, value in spec.items() if key not in ("list_id", "groups")}
    mailing_list, _ = List.objects.update_or_create(account=account, list_id=spec["list_id"], defaults=values)
    for name in spec["groups"]:
        Group.objects.get_or_create(list=mailing_list, name=name)


def _seed_web_service(account, name):
    service, _ = WebService.objects.update_or_create(
        account=account, name=name, defaults={"enabled": True, "active": True}
    )
    service.allowed_addresses.exclude(ip=DEMO_ALLOWED_IP).delete()
    service.allowed_addresses.get_or_create(ip=DEMO_ALLOWED_IP)


def _seed_oauth_client(account):
    from oauth2_provider.models import get_application_model

    application_model = get_application_model()
    application, _ = application_model.objects.get_or_create(
        client_id=DEMO_OAUTH_CLIENT_ID,
        defaults={
            "name": "mailup-sim demo client",
            "client_type": application_model.CLIENT_CONFIDENTIAL,
            "authorization_grant_type": application_model.GRANT_PASSWORD,
        },
    )
    application.client_secret = DEMO_OAUTH_CLIENT_SECRET
    application.user = account.members.get(user__username=account.console_username).user
    application.save()


def _seed_relay():
    from sending.demo import seed_relay

    seed_relay()


def _seed_ftp_account(account):
    from integrations.services import set_ftp_password

    set_ftp_password(account, DEMO_FTP_PASSWORD)


def _seed_smtp_user(account):
    from sending.models import SmtpUser

    user, _ = SmtpUser.objects.get_or_create(
        username=DEMO_SMTP_USERNAME, defaults={"account": account, "list": account.lists.get(list_id=1)}
    )
    user.account = account
    user.list = account.lists.get(list_id=1)
    user.active = True
    user.set_password(DEMO_SMTP_SECRET)
    user.save()


def describe(account):
    """Return the demo data as a JSON-ready dict: ids, GUIDs, user names and passwords."""
    from lists.services import console_origin

    return {
        "console_id": account.console_id,
        "console_host": account.console_host,
        "origin": console_origin(account),
        "console_user": {"username": account.console_username, "password": DEMO_CONSOLE_PASSWORD},
        "ws_user": {"username": account.ws_username, "password": DEMO_WS_PASSWORD},
        "ftp_user": {"username": f"ftp{account.console_id}", "password": DEMO_FTP_PASSWORD},
        "smtp_plus_user": {"username": DEMO_SMTP_USERNAME, "secret": DEMO_SMTP_SECRET, "list": 1},
        "oauth_client": {"client_id": DEMO_OAUTH_CLIENT_ID, "client_secret": DEMO_OAUTH_CLIENT_SECRET},
        "frontend_allowed_ips": [DEMO_ALLOWED_IP],
        "frontend_ip_restricted": account.frontend_ip_restricted,
        "lists": [
            {
                "id": mailing_list.list_id,
                "guid": str(mailing_list.guid),
                "name": mailing_list.name,
                "language": mailing_list.language,
                "groups": [{"id": group.pk, "name": group.name} for group in mailing_list.groups.order_by("id")],
            }
            for mailing_list in account.lists.order_by("list_id")
        ],
    }
