"""Image links in Markdown: listing them, making them relative to a report's folder, and
rewriting them to absolute URLs once the images are published (a pull-request comment
cannot show a relative image).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import quote, urljoin

__all__ = ["absolute_image_links", "image_links", "relative_link"]

# A Markdown image, ![alt](link) or ![alt](link "title"), and an HTML <img src="...">.
_IMAGE = re.compile(r"(!\[[^\]]*\]\()\s*<?([^)\s>]+)>?((?:\s+\"[^\"]*\")?\s*\))")
_IMG_TAG = re.compile(r"(<img\b[^>]*?\bsrc\s*=\s*[\"'])([^\"']+)([\"'])", re.I)
_ABSOLUTE = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)


def image_links(markdown: str) -> list[str]:
    """Every image link of ``markdown``: ``![alt](link)`` and ``<img src="link">``."""
    return [m.group(2) for m in _IMAGE.finditer(markdown)] + \
        [m.group(2) for m in _IMG_TAG.finditer(markdown)]


def absolute_image_links(markdown: str, base_url: str) -> str:
    """``markdown`` with every relative image link made absolute against ``base_url``.

    ``base_url`` is where the report's folder was published (``https://…/run-id/``): a link
    ``plots/roc.png`` becomes ``https://…/run-id/plots/roc.png``. Links that are already
    absolute are kept; a link that climbs out of the folder (``../x.png``), or a root-
    relative one, is refused, since it would point outside what was published.
    """
    if not re.match(r"^https?://[^/\s]+", base_url):
        raise ValueError(f"base URL {base_url!r} must be an absolute http(s) URL")
    base = base_url if base_url.endswith("/") else base_url + "/"

    def absolute(link: str) -> str:
        if _ABSOLUTE.match(link):
            return link
        parts = link.split("?", 1)[0].split("#", 1)[0].split("/")
        if link.startswith("/") or ".." in parts:
            raise ValueError(f"image link {link!r} points outside the published folder")
        return urljoin(base, link[2:] if link.startswith("./") else link)

    markdown = _IMAGE.sub(lambda m: m.group(1) + absolute(m.group(2)) + m.group(3), markdown)
    return _IMG_TAG.sub(lambda m: m.group(1) + absolute(m.group(2)) + m.group(3), markdown)


def relative_link(image: Path, folder: Path) -> str:
    """URL-quoted POSIX path of ``image`` relative to ``folder``."""
    relative = os.path.relpath(image.resolve(), folder.resolve())
    return quote(Path(relative).as_posix())
