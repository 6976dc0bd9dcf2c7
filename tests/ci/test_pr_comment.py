"""The pull-request comment of a stack: found again by its marker, verdict first, never over GitHub's limit."""

from __future__ import annotations

from mlops_platform_offline.pr_comment import MAX_COMMENT_CHARACTERS, comment_body, main, marker


def test_the_comment_starts_with_the_stacks_marker_and_holds_verdict_diff_and_output():
    body = comment_body("aws-dev", "\x1b[1mPreviewing update\x1b[0m\nResources: 3 to create", 0,
                        "### Plan diff of `aws-dev`\n\n2 changed")
    assert body.splitlines()[0] == marker("aws-dev") == "<!-- mlops-preview stack=aws-dev -->"
    assert "**Policy verdict:** passed" in body
    assert "### Plan diff of `aws-dev`" in body
    assert "Previewing update\nResources: 3 to create" in body and "\x1b" not in body


def test_a_failed_preview_says_so_and_a_missing_diff_is_named():
    body = comment_body("aws-prod", "error: policy violated", 255, None)
    assert "**Policy verdict:** FAILED (exit status 255)" in body
    assert "offline plan diff is not available" in body


def test_a_huge_preview_is_cut_from_its_start_to_fit_the_comment():
    output = "".join(f"line {n}\n" for n in range(40_000)) + "Policies: 1 mandatory violation"
    body = comment_body("aws-dev", output, 1, "diff")
    assert len(body) <= MAX_COMMENT_CHARACTERS
    assert "earlier output cut" in body
    assert "Policies: 1 mandatory violation" in body and "line 0\n" not in body


def test_the_command_writes_the_body(tmp_path):
    (tmp_path / "preview.txt").write_text("done")
    assert main(["local", "--preview", str(tmp_path / "preview.txt"), "--status", "0", "--diff",
                 str(tmp_path / "missing.md"), "--out", str(tmp_path / "body.md")]) == 0
    assert (tmp_path / "body.md").read_text().startswith(marker("local"))
