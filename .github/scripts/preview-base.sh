#!/usr/bin/env bash
# Writes the offline preview JSON of $STACK on the base branch, checked out in $1, to $2: the base's own program,
# library, stack file, policy pack and policy config. The base's packages are installed (without dependencies) into
# a directory of their own that comes first on PYTHONPATH, so this checkout's editable install never stands in for
# them; the dependencies are this checkout's virtualenv. A stack the base branch does not have yet is written as an
# empty preview, so the plan diff lists all of its resources as added.
set -euo pipefail
base_dir=$(cd "$1" && pwd)
out=$2
python="$PWD/.venv/bin/python"
if [ ! -f "$base_dir/stacks/Pulumi.$STACK.yaml" ]; then
    project=$(sed -n 's/^name: *//p' "$base_dir/Pulumi.yaml")
    printf '{"project": "%s", "stack": "%s", "resources": [], "outputs": {}, "violations": []}\n' \
        "$project" "$STACK" > "$out"
    echo "stack $STACK is new in this pull request: the base preview is empty"
    exit 0
fi
config=()
if [ -f "$base_dir/$POLICY_CONFIG" ]; then config=(--policy-config "$POLICY_CONFIG"); fi
status=0
if grep -q '"mlops_platform_offline"' "$base_dir/pyproject.toml"; then
    site=$(mktemp -d)
    uv pip install --quiet --no-deps --python "$python" --target "$site" "$base_dir"
    # MLOPS_CURRENT_PYTHON: this checkout's interpreter, not the .venv the base's Pulumi.yaml names (it has none).
    (cd "$base_dir" && MLOPS_CURRENT_PYTHON=1 PYTHONPATH="$site" "$python" -m mlops_platform_offline.preview "$STACK" --program "$base_dir" \
        --policy-pack "$base_dir/policies" "${config[@]}" --json "$out") || status=$?
else  # a base branch from before the library had import names of its own
    (cd "$base_dir" && "$python" -m infra.preview "$STACK" "${config[@]}" --json "$out") || status=$?
fi
# 1 is a mandatory violation on the base branch: still a preview to compare with.
if [ "$status" -gt 1 ]; then
    echo "::error::the base branch's offline preview of $STACK failed (exit status $status)"
    exit "$status"
fi
