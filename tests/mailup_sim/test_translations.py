"""The Italian and English catalogues are complete, compiled and in step with the code.

English is the source language: its catalogue repeats each msgid as its
msgstr, so both catalogues are checked for completeness the same way.
After adding or changing a translatable string, run `make messages` and
translate the new Italian entries.
"""

import ast
import gettext
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

LOCALE_DIR = Path(settings.BASE_DIR) / "locale"
LANGUAGES = ("it", "en")
# Folders without translatable project source. Copying them would only slow
# the makemessages check down.
NOT_SOURCE = (".git", ".venv", "var", "locale", ".pytest_cache", "__pycache__", "test-results", "node_modules")
# Same patterns as `make messages`.
MAKEMESSAGES_IGNORE = [".venv/*"]
PLACEHOLDER = re.compile(r"%\((\w+)\)[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")


@dataclass
class Entry:
    """One message of a .po file; `strings` maps msgstr (or msgstr[N]) to its text."""

    msgctxt: str | None = None
    msgid: str = ""
    msgid_plural: str | None = None
    strings: dict = field(default_factory=dict)
    flags: set = field(default_factory=set)
    line: int = 0

    @property
    def key(self):
        return (self.msgctxt, self.msgid)

    @property
    def label(self):
        return f"line {self.line}: {self.msgid[:60]!r}"


def parse_po(path):
    """Return the entries of a .po file, header and obsolete (#~) entries excluded."""
    entries = []
    current = Entry()
    keyword = None

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if line.startswith("#~"):
            continue
        # An entry ends at the first blank line, comment or msgid after its msgstr.
        if current.strings and (not line or line.startswith(("#", "msgctxt ", "msgid "))):
            entries.append(current)
            current = Entry()
        if not line:
            continue

        if line.startswith("#,"):
            current.flags.update(flag.strip() for flag in line[2:].split(","))
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            _append(current, keyword, ast.literal_eval(line))
        else:
            keyword, _, text = line.partition(" ")
            if keyword == "msgid":
                current.line = number
            _append(current, keyword, ast.literal_eval(text))

    if current.strings:
        entries.append(current)
    return [entry for entry in entries if entry.msgid or entry.msgctxt]


def _append(entry, keyword, text):
    if keyword == "msgctxt":
        entry.msgctxt = (entry.msgctxt or "") + text
    elif keyword == "msgid":
        entry.msgid += text
    elif keyword == "msgid_plural":
        entry.msgid_plural = (entry.msgid_plural or "") + text
    elif keyword.startswith("msgstr"):
        entry.strings[keyword] = entry.strings.get(keyword, "") + text
    else:
        raise AssertionError(f"Unexpected keyword {keyword!r} in a .po file.")


def po_path(language):
    return LOCALE_DIR / language / "LC_MESSAGES" / "django.po"


def mo_path(language):
    return LOCALE_DIR / language / "LC_MESSAGES" / "django.mo"


def expected_catalog(entries):
    """Return what msgfmt compiles from `entries`: the keys and texts of non-fuzzy, fully translated entries."""
    catalog = {}
    for entry in entries:
        if "fuzzy" in entry.flags or not all(entry.strings.values()):
            continue
        msgid = entry.msgid if entry.msgctxt is None else f"{entry.msgctxt}\x04{entry.msgid}"
        if entry.msgid_plural is None:
            catalog[msgid] = entry.strings["msgstr"]
        else:
            for keyword, text in entry.strings.items():
                catalog[(msgid, int(keyword[len("msgstr[") : -1]))] = text
    return catalog


def compiled_catalog(path):
    """Return the messages of a .mo file, without the header entry."""
    with path.open("rb") as handle:
        catalog = dict(gettext.GNUTranslations(handle)._catalog)
    catalog.pop("", None)
    return catalog


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogue_parses(language):
    entries = parse_po(po_path(language))

    assert len(entries) > 10, f"{po_path(language)} has only {len(entries)} messages; is the parser broken?"
    keys = [entry.key for entry in entries]
    assert len(keys) == len(set(keys)), f"{po_path(language)} lists a msgid twice."


def test_italian_catalogue_complete():
    entries = parse_po(po_path("it"))

    fuzzy = [entry.label for entry in entries if "fuzzy" in entry.flags]
    assert not fuzzy, f"Fuzzy Italian translations, review them and remove the fuzzy flag: {fuzzy}"
    empty = [entry.label for entry in entries if not all(entry.strings.values())]
    assert not empty, f"Untranslated Italian messages: {empty}"
    plural_forms = [entry.label for entry in entries if entry.msgid_plural and len(entry.strings) != 2]
    assert not plural_forms, f"Italian plural messages need msgstr[0] and msgstr[1]: {plural_forms}"


def test_english_catalogue_repeats_msgid():
    entries = parse_po(po_path("en"))

    fuzzy = [entry.label for entry in entries if "fuzzy" in entry.flags]
    assert not fuzzy, f"Fuzzy English entries: {fuzzy}"
    different = []
    for entry in entries:
        if entry.msgid_plural is None:
            expected_strings = {"msgstr": entry.msgid}
        else:
            expected_strings = {"msgstr[0]": entry.msgid, "msgstr[1]": entry.msgid_plural}
        if entry.strings != expected_strings:
            different.append(entry.label)
    assert not different, f"English msgstr must repeat the msgid: {different}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_placeholders_match(language):
    mismatched = []
    for entry in parse_po(po_path(language)):
        names = set(PLACEHOLDER.findall(entry.msgid + (entry.msgid_plural or "")))
        for keyword, text in entry.strings.items():
            if text and set(PLACEHOLDER.findall(text)) != names:
                mismatched.append(f"{entry.label} {keyword}")
    assert not mismatched, f"{language}: msgstr placeholders differ from the msgid: {mismatched}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_mo_matches_po(language):
    # Git does not keep modification times, so a fresh clone cannot tell an
    # old .mo by its date; comparing the compiled messages catches it instead.
    assert mo_path(language).exists(), f"{mo_path(language)} is missing; run `make messages` and commit it."

    expected = expected_catalog(parse_po(po_path(language)))
    compiled = compiled_catalog(mo_path(language))
    missing = sorted(str(key)[:60] for key in expected.keys() - compiled.keys())
    stale = sorted(str(key)[:60] for key in compiled.keys() - expected.keys())
    changed = sorted(str(key)[:60] for key in expected.keys() & compiled.keys() if expected[key] != compiled[key])

    hint = "run `make messages` and commit the .mo file"
    assert not missing, f"{mo_path(language)} lacks {missing}; {hint}."
    assert not stale, f"{mo_path(language)} still has {stale}; {hint}."
    assert not changed, f"{mo_path(language)} has old texts for {changed}; {hint}."


@pytest.mark.parametrize("language", LANGUAGES)
def test_msgfmt_compiles_same_messages(language, tmp_path):
    if shutil.which("msgfmt") is None:
        pytest.skip("GNU gettext's msgfmt is not installed.")

    compiled = tmp_path / "django.mo"
    result = subprocess.run(
        ["msgfmt", "--check", "-o", str(compiled), str(po_path(language))], capture_output=True, text=True
    )

    assert result.returncode == 0, f"msgfmt --check rejected {po_path(language)}:\n{result.stderr}"
    assert compiled_catalog(compiled) == compiled_catalog(mo_path(language)), (
        f"{mo_path(language)} differs from msgfmt's output; run `make messages` and commit the .mo file."
    )


def test_catalogue_has_every_string_in_code(tmp_path, monkeypatch, settings):
    if shutil.which("xgettext") is None or shutil.which("msgmerge") is None:
        pytest.skip("GNU gettext's xgettext and msgmerge are not installed.")

    # makemessages writes temporary files beside the templates it reads and
    # rewrites the catalogue, so it runs on a copy of the project.
    copy = tmp_path / "project"
    shutil.copytree(settings.BASE_DIR, copy, ignore=shutil.ignore_patterns(*NOT_SOURCE), symlinks=True)
    shutil.copytree(LOCALE_DIR, copy / "locale")
    monkeypatch.chdir(copy)
    settings.LOCALE_PATHS = [copy / "locale"]
    call_command("makemessages", locale=["it"], ignore_patterns=MAKEMESSAGES_IGNORE, verbosity=0)

    known = {entry.key for entry in parse_po(po_path("it"))}
    extracted = parse_po(copy / "locale" / "it" / "LC_MESSAGES" / "django.po")
    new = [entry.msgid[:60] for entry in extracted if entry.key not in known]
    assert not new, f"Strings in the code are missing from the catalogues; run `make messages` and translate: {new}"
