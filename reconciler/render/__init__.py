"""Everything a person reads: validate results, plans (text via rich, JSON, and Markdown for PR comments),
apply outcomes and waiting progress.

The only package that imports rich. One module per kind of output; this file names what the CLI uses.
"""

from reconciler.render.console import console
from reconciler.render.markdown import MARKDOWN_LIMIT, markdown
from reconciler.render.markdown import invalid as markdown_invalid
from reconciler.render.plan_text import as_json, summary, text
from reconciler.render.progress import live_progress, outcomes, progress
from reconciler.render.untrusted import for_terminal
from reconciler.render.validation import invalid, valid

__all__ = ["MARKDOWN_LIMIT", "as_json", "console", "for_terminal", "invalid", "live_progress", "markdown",
           "markdown_invalid", "outcomes", "progress", "summary", "text", "valid"]
