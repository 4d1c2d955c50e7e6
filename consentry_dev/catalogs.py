"""Brings the portal's catalogs up to date with its templates and code (`python -m consentry_dev.catalogs`):
new strings are added to each language's messages.po with an empty translation, which the catalog test
then names until someone translates them; strings no longer used are dropped. English is the source
language: its translations are the strings themselves."""

from datetime import UTC, datetime
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
PORTAL_WEB = ROOT / "services" / "portal" / "web"
LANGUAGES = {"en": "en", "zh_CN": "zh-CN"}
STABLE = datetime(2026, 12, 1, tzinfo=UTC)  # the header's dates: a catalog changes only with its strings


def source_strings() -> list[str]:
    """Every string the portal's templates and code mark for translation, from babel.cfg's mapping."""
    with (PORTAL_WEB / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found = extract_from_dir(str(ROOT), method_map, options_map)
    return sorted({message if isinstance(message, str) else message[0] for _, _, message, *_ in found})


def catalog_path(language: str) -> Path:
    return PORTAL_WEB / "locale" / language / "LC_MESSAGES" / "messages.po"


def update() -> None:
    strings = source_strings()
    for language in LANGUAGES:
        path = catalog_path(language)
        old = read_po(path.open("rb")) if path.exists() else Catalog(locale=language)
        new = Catalog(locale=language, project="Consentry portal", version="", fuzzy=False, msgid_bugs_address="",
                      header_comment=f"# The portal's {LANGUAGES[language]} catalog, kept in step with its templates"
                                     " and code by consentry_dev/catalogs.py.",
                      creation_date=STABLE, revision_date=STABLE, last_translator="", language_team="")
        for msgid in strings:
            kept = old.get(msgid)
            new.add(msgid, msgid if language == "en" else (kept.string if kept else ""))
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            write_po(f, new, omit_header=False, width=120, no_location=True)


if __name__ == "__main__":
    update()
