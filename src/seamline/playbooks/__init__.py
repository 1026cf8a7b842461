"""Playbooks: investigation templates that chain views into a report, findings, and the health review.

`PLAYBOOKS` holds the built-in templates by name (latency-spike, error-escalation,
frontend-regression, release-regression, dependency-failure); `load_playbooks(user_dir)`
adds a user's folder of templates. `run_playbook` runs one into a report that
`render.to_markdown` / `render.to_html` print; the UI shows the same report at
/investigate/<playbook>.
"""

from seamline.playbooks._template import Chart, Playbook, PlaybookError, Step, parse_playbook
from seamline.playbooks.runner import builtin_playbooks, load_playbooks, parse_scope, run_playbook

PLAYBOOKS: dict[str, Playbook] = builtin_playbooks()

__all__ = [
    "PLAYBOOKS",
    "Chart",
    "Playbook",
    "PlaybookError",
    "Step",
    "builtin_playbooks",
    "load_playbooks",
    "parse_playbook",
    "parse_scope",
    "run_playbook",
]
