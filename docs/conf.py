"""Sphinx configuration of avo's docs site (`make docs`). Why Sphinx + MyST + Furo: docs-site.md.

The build runs with -W (every warning is an error) and -n (nitpicky), so a link to a page or
heading that does not exist, or a page left out of the table of contents, fails it.
"""

project = "avo"
author = "avo contributors"
extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
html_theme = "furo"
html_title = "avo — Agentic Variation Operators"
# GitHub-style anchors for headings, so `page.md#some-heading` works on GitHub and in the site.
myst_heading_anchors = 4
myst_enable_extensions = ["colon_fence"]
# Untagged blocks (console output, file trees) are shown as written, not guessed at.
highlight_language = "none"
