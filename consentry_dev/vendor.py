"""`python -m consentry_dev.vendor DEST`: fetches the portal's third-party assets (services/portal/web/
static/vendor/README.md) from the npm registry, checks each package against the integrity the registry
published, and writes the file the portal serves. Run by `make install`; a failed check writes nothing."""

import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

# (package tarball, its sha512 integrity as the registry publishes it, file inside, file written)
ASSETS = [(
    "https://registry.npmjs.org/htmx.org/-/htmx.org-2.0.8.tgz",
    "sha512-fm297iru0iWsNJlBrjvtN7V9zjaxd+69Oqjh4F/Vq9Wwi2kFisLcrLCiv5oBX0KLfOX/zG8AUo9ROMU5XUB44Q==",
    "package/dist/htmx.min.js", "htmx.min.js",
)]


def fetch(dest: Path) -> None:
    for url, integrity, member, name in ASSETS:
        with urllib.request.urlopen(url, timeout=60) as answer:
            tarball = answer.read()
        digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode()
        if digest != integrity:
            raise SystemExit(f"{url}: integrity {digest} is not the published {integrity}; nothing written")
        with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
            extracted = archive.extractfile(member)
            if extracted is None:
                raise SystemExit(f"{url}: no {member} inside")
            content = extracted.read()
        dest.mkdir(parents=True, exist_ok=True)
        (dest / name).write_bytes(content)


if __name__ == "__main__":
    fetch(Path(sys.argv[1]))
