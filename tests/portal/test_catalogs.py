"""Every string the portal's templates and code mark for translation has a translation in every
language, and the catalogs hold nothing else (consentry_dev/catalogs.py brings them in step)."""

import re

import pytest
from babel.messages.pofile import read_po

from consentry_dev.catalogs import LANGUAGES, catalog_path, source_strings


def test_the_sources_mark_strings_for_translation():
    strings = source_strings()
    assert len(strings) > 50 and "My consents" in strings and "Version %(version)s of %(date)s" in strings


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_every_marked_string_is_translated(language):
    with catalog_path(language).open("rb") as f:
        catalog = read_po(f)
    translated = {m.id: m.string for m in catalog if m.id and not m.fuzzy}

    missing = [s for s in source_strings() if not translated.get(s)]
    unused = sorted(set(translated) - set(source_strings()))

    assert missing == [], f"{language}: untranslated (run `python -m consentry_dev.catalogs`, then translate)"
    assert unused == [], f"{language}: strings no template or code uses any more"
    for msgid, text in translated.items():  # placeholders survive translation
        assert sorted(_placeholders(msgid)) == sorted(_placeholders(text)), (language, msgid)


def _placeholders(text: str) -> list[str]:
    return re.findall(r"%\(\w+\)s", text)
