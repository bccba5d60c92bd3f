"""The panel in a real browser: Debian's Chromium driven by Playwright over the live server.

A marketer logs in, creates a list and a group, imports a file, composes a
newsletter with a merge tag, sends it to the group, finds the messages in
the sink inbox, reads the statistics, allows a FrontEnd caller address,
creates the DKIM keys with their DNS records and switches language. Screenshots go
to PANEL_SCREENSHOT_DIR when it is set (docs/screenshots is made this way),
else to test-results/panel.
"""

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections

from lists.models import Group, Subscription
from sending.models import Delivery, Sending

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Flags that keep Chromium off the network: no update checks, sync,
# metrics, or component downloads; --no-sandbox because CI runs as root.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--metrics-recording-only",
    "--no-first-run",
    "--no-default-browser-check",
]

pytestmark = pytest.mark.skipif(not shutil.which(CHROMIUM), reason=f"Chromium is not installed at {CHROMIUM}.")


@pytest.fixture
def screenshot_dir():
    folder = Path(os.environ.get("PANEL_SCREENSHOT_DIR") or Path(settings.BASE_DIR) / "test-results" / "panel")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def chromium_page():
    """Yield a Playwright page in headless Chromium; close it and the connections opened meanwhile on leaving.

    Between its calls, Playwright's sync API (1.65) leaves its asyncio loop
    marked as running in this thread. Django 5.2 then keeps the thread's
    database connections in a context variable, apart from the thread-local
    ones it uses before and after. The ORM calls made while the page is open
    therefore get a connection of their own, and pytest-django's teardown
    does not close it. On PostgreSQL that open session kept the test database
    from being dropped, so it is closed here while the loop is still marked running.
    """
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            context = browser.new_context(locale="it-IT", viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.set_default_timeout(20_000)
            yield page
            context.close()
        finally:
            browser.close()
            connections.close_all()


@pytest.fixture
def browser_page(monkeypatch, server_url):
    # Playwright's sync API keeps an asyncio loop in this thread, and Django
    # would take the test's own ORM calls for calls from async code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with chromium_page() as page:
        yield page


class Tour:
    """The browser page plus the live server's address and a screenshot helper."""

    def __init__(self, page, base_url, folder):
        self.page = page
        self.base_url = base_url
        self.folder = folder

    def open(self, path):
        self.page.goto(self.base_url + path)

    def shoot(self, language, name):
        (self.folder / language).mkdir(exist_ok=True)
        self.page.screenshot(path=str(self.folder / language / f"{name}.png"), full_page=True)


def log_in(tour):
    tour.open("/console/login")
    tour.page.fill("#id_username", "m1234")
    tour.page.fill("#id_password", "demo-console-1234")
    tour.page.click("button[type=submit] >> text=Accedi")
    tour.page.wait_for_url(f"{tour.base_url}/console/")


def create_list_with_group(tour):
    tour.open("/console/lists/new")
    tour.page.fill("#id_name", "Prova browser")
    tour.page.fill("#id_sender_name", "Negozio Demo")
    tour.page.fill("#id_sender_email", "negozio@demo.example")
    tour.page.click("button >> text=Salva")
    tour.page.wait_for_url(f"{tour.base_url}/console/lists/3")
    tour.page.fill("#new-group", "Lettori")
    tour.page.click("button >> text=Aggiungi gruppo")
    tour.page.wait_for_selector("text=Gruppo creato.")
    return Group.objects.get(list__list_id=3, name="Lettori")


def import_file(tour, group, tmp_path):
    csv_file = tmp_path / "lettori.csv"
    csv_file.write_text(
        f"111|1|groups\nanna@example.com|Anna|{group.pk}\nbruno@example.com|Bruno|{group.pk}\ncarla@example.com|Carla|\n"
    )
    tour.open("/console/lists/3/import")
    tour.page.set_input_files("#id_file", str(csv_file))
    tour.page.click("button >> text=Carica e importa")
    tour.page.wait_for_selector("#import-status >> text=completato")


def compose_with_merge_tag(tour):
    tour.open("/console/messages/new")
    tour.page.select_option("#id_list", "3")
    tour.page.fill("#id_subject", "Ciao dal browser")
    tour.page.fill("#id_preheader", "Anteprima")
    tour.page.fill("#id_html", "<p>Ciao </p><p><a href='[unsubscribe]'>Disiscriviti</a></p>")
    tour.page.evaluate("document.getElementById('id_html').setSelectionRange(8, 8)")
    tour.page.select_option("#merge-tag", "[nome]")
    tour.page.click("#insert-tag")
    preview = tour.page.frame_locator("#preview")
    preview.locator("text=Ciao [nome]").wait_for()
    tour.shoot("it", "compose")
    tour.page.click("button[data-width='375']")
    tour.shoot("it", "compose-mobile")
    tour.page.click("button >> text=Salva")
    tour.page.wait_for_selector("text=Messaggio salvato.")


def send_to_group(tour, group):
    tour.page.check(f"#send-form input[name=groups][value='{group.pk}']")
    tour.page.wait_for_selector("#target-count >> text=2")
    tour.shoot("it", "message")
    tour.page.click("#send-form button[type=submit]")
    tour.page.wait_for_url(f"{tour.base_url}/console/sendings/*")


def allow_address_and_publish_dkim(tour):
    tour.open("/console/settings")
    tour.page.click("text=Indirizzi IP autorizzati per FrontEnd")
    tour.page.fill("#id_ip", "192.0.2.7")
    tour.page.click("button >> text=Autorizza l'indirizzo")
    tour.page.wait_for_selector("text=Indirizzo 192.0.2.7 autorizzato.")
    tour.shoot("it", "settings-frontend")
    tour.open("/console/settings/dkim")
    tour.page.click("button >> text=Crea le chiavi mancanti")
    tour.page.wait_for_selector("text=mu1234r._domainkey.demo.example")
    tour.shoot("it", "settings-dkim")


def test_marketer_tour_in_browser(browser_page, server_url, sink, demo, tmp_path, screenshot_dir):
    tour = Tour(browser_page, server_url, screenshot_dir)

    log_in(tour)
    tour.shoot("it", "dashboard")
    group = create_list_with_group(tour)
    tour.shoot("it", "list")
    import_file(tour, group, tmp_path)
    assert Subscription.objects.filter(list__list_id=3, list__account__console_id=1234).count() == 3

    compose_with_merge_tag(tour)
    send_to_group(tour, group)
    sending = Sending.objects.get(list__list_id=3)
    received = sink.wait_for(2, timeout=30, sending_id=sending.pk)
    assert sorted(message.rcpt_to[0] for message in received) == ["anna@example.com", "bruno@example.com"]

    tour.page.reload()
    tour.page.wait_for_selector("text=2 consegne")
    tour.shoot("it", "sending")
    assert Delivery.objects.filter(sending=sending, status="delivered").count() == 2

    tour.open(f"/console/inbox?sending={sending.pk}")
    tour.page.wait_for_selector("text=Ciao dal browser")
    tour.shoot("it", "inbox")
    tour.page.click("text=Ciao dal browser >> nth=0")
    tour.page.frame_locator("iframe.mail").locator("text=Ciao Anna").or_(
        tour.page.frame_locator("iframe.mail").locator("text=Ciao Bruno")
    ).wait_for()
    tour.shoot("it", "inbox-message")

    allow_address_and_publish_dkim(tour)
    tour.open("/console/lists/3/statistics")
    tour.page.wait_for_selector("svg")
    tour.shoot("it", "list-statistics")

    tour.page.select_option("#language", "en")
    tour.page.click("#language-form button")
    tour.page.wait_for_selector("text=Statistics of Prova browser")
    for name, path in [
        ("dashboard", "/console/"),
        ("list", "/console/lists/3"),
        ("message", f"/console/messages/{sending.message_id}"),
        ("sending", f"/console/sendings/{sending.pk}"),
        ("inbox", f"/console/inbox?sending={sending.pk}"),
        ("list-statistics", "/console/lists/3/statistics"),
        ("settings-frontend", "/console/settings/frontend"),
        ("settings-dkim", "/console/settings/dkim"),
    ]:
        tour.open(path)
        tour.shoot("en", name)
    tour.open("/console/messages/new")
    tour.shoot("en", "compose")
    assert tour.page.locator("html").get_attribute("lang") == "en"


@pytest.mark.django_db
def test_chromium_page_closes_connections(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    outside = connections["default"]
    with chromium_page():
        inside = connections["default"]
        assert Group.objects.count() == 0
        assert inside is not outside
        assert inside.connection is not None

    assert inside.connection is None
