"""The team's own test of its program, with the library's pytest fixture."""

from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
TEAM_TAGS = {"project": "shop-recs", "owner": "recs-team", "cost-center": "cc-4711", "environment": "dev"}


def test_the_program_is_compliant_and_carries_the_team_tags(mlops_preview):
    plan = mlops_preview(PROJECT, "dev")
    assert plan.mandatory_violations == []
    bucket = plan.one("aws:s3/bucket:Bucket", "shop-recs-models-store-bucket")
    role = plan.one("aws:iam/role:Role", "shop-recs-models-reader-role")
    assert TEAM_TAGS.items() <= bucket.inputs["tags"].items()
    assert TEAM_TAGS.items() <= role.inputs["tags"].items()
    assert plan.outputs["registry_token"] == "[secret]"
