"""The pull-request comment of one stack: ``python -m mlops_platform_offline.pr_comment STACK --preview FILE --status N
[--diff FILE] --out FILE``.

Joins what a reviewer needs in one comment: the policy verdict of ``pulumi preview --policy-pack``, the offline plan
diff (``mlops_platform_offline.plan_diff``'s Markdown) and the preview's own output, folded. The comment starts with a hidden marker
naming the stack, which is how the workflow finds the comment again and edits it in place on the next push instead of
adding another one. GitHub refuses comments over 65,536 characters, so the preview output is cut from its start
(the summary and the policy verdict come last in Pulumi's output) to keep the comment under that.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

MAX_COMMENT_CHARACTERS = 65_536
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def marker(stack: str) -> str:
    """The hidden first line that identifies this stack's comment."""
    return f"<!-- mlops-preview stack={stack} -->"


def comment_body(stack: str, preview_output: str, status: int, diff_markdown: str | None) -> str:
    """The whole comment, at most ``MAX_COMMENT_CHARACTERS`` long."""
    verdict = ("passed: the preview succeeded and no mandatory policy is violated" if status == 0
               else f"FAILED (exit status {status}): a mandatory policy is violated or the preview failed; "
                    f"see the output below")
    head = [marker(stack), f"## `pulumi preview` of `{stack}` with the policy pack", "",
            f"**Policy verdict:** {verdict}", ""]
    if diff_markdown:
        head += [diff_markdown.strip(), ""]
    else:
        head += ["_The offline plan diff is not available (its job did not finish)._", ""]
    opening, closing = "<details><summary>Preview output</summary>\n\n```\n", "\n```\n\n</details>\n"
    text = _ANSI.sub("", preview_output).strip().replace("```", "'''")
    room = MAX_COMMENT_CHARACTERS - len("\n".join(head)) - len(opening) - len(closing) - 1
    if room < 200:
        return "\n".join(head)[:MAX_COMMENT_CHARACTERS]
    if len(text) > room:
        cut = "[... earlier output cut to fit the comment ...]\n"
        text = cut + text[len(text) - (room - len(cut)):]
    return "\n".join(head) + "\n" + opening + text + closing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlops_platform_offline.pr_comment", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack")
    parser.add_argument("--preview", type=Path, required=True, help="the output of pulumi preview")
    parser.add_argument("--status", type=int, required=True, help="the exit status of pulumi preview")
    parser.add_argument("--diff", type=Path, help="the offline plan diff (Markdown), when its job produced one")
    parser.add_argument("--out", type=Path, required=True, help="where to write the comment body")
    args = parser.parse_args(argv)
    diff = args.diff.read_text() if args.diff and args.diff.is_file() else None
    preview = args.preview.read_text(errors="replace") if args.preview.is_file() else "(no preview output)"
    args.out.write_text(comment_body(args.stack, preview, args.status, diff))
    return 0


if __name__ == "__main__":
    sys.exit(main())
