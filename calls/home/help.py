"""The operators' guide in the admin, for the people it is written for: the home page links to
docs/operators.md here (/admin/help/), and its links to the documents it names and to its
screenshots work as they do in the repository (/admin/help/engines.md, /admin/help/screenshots/…).
The files are the repository's own, so they never differ from what they describe."""

from __future__ import annotations

import re
from pathlib import Path

import markdown
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.safestring import mark_safe

DOCS = Path(settings.BASE_DIR) / "docs"
# Names only, so no path reaches outside docs/.
PAGE = re.compile(r"^[a-z0-9-]{1,64}\.md\Z")
PICTURE = re.compile(r"^[a-z0-9-]{1,64}\.png\Z")
LINKED = re.compile(r"\]\(([a-z0-9-]{1,64}\.md)[#)]")


def for_operators() -> set[str]:
    """The guide and the documents it links to: what the help serves (not, say, deploy.md,
    which is for whoever runs the servers)."""
    try:
        guide = (DOCS / "operators.md").read_text(encoding="utf-8")
    except OSError:
        return set()
    return {"operators.md", *LINKED.findall(guide)}


@staff_member_required
def operators_help(request: HttpRequest, page: str = "operators.md") -> HttpResponse:
    path = DOCS / page
    if not PAGE.match(page) or page not in for_operators() or not path.is_file():
        raise Http404("There is no such page in the help.")
    text = path.read_text(encoding="utf-8")
    # The files are the project's own, written by its developers, never by a user: they are
    # trusted as HTML, as they are on the repository's pages.
    html = markdown.markdown(text, extensions=["tables", "fenced_code"], output_format="html")
    title = text.splitlines()[0].lstrip("# ").strip() if text else page
    context = {
        **admin.site.each_context(request),
        "title": title,
        "page": page,
        "help_html": mark_safe(html),  # noqa: S308 (the project's own file, see above)
    }
    return TemplateResponse(request, "admin/operators_help.html", context)


@staff_member_required
def help_picture(request: HttpRequest, name: str) -> FileResponse:
    if not PICTURE.match(name) or not (DOCS / "screenshots" / name).is_file():
        raise Http404("No such picture.")
    return FileResponse((DOCS / "screenshots" / name).open("rb"), content_type="image/png")
