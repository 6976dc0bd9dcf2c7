"""The canonical cost tags: validated once, rendered identically for every target, never silently rewritten."""

from __future__ import annotations

import pytest

from mlops_platform.tags import CANONICAL_TAG_KEYS, MAX_TAGS, CostTags, TagError

BASE = {"cost-center": "ml-platform", "owner": "ml-infra", "environment": "dev", "project": "mlops"}


def test_every_target_gets_the_same_validated_tags_with_managed_by_defaulted():
    tags = CostTags.from_mapping(BASE)
    expected = {**BASE, "managed-by": "pulumi"}
    assert tags.for_aws() == expected
    assert tags.for_gcp() == expected
    assert tags.for_azure() == expected
    assert tags.for_kubernetes() == expected
    assert set(CANONICAL_TAG_KEYS) <= set(expected)


def test_rendered_tags_are_copies_that_cannot_change_the_canonical_set():
    tags = CostTags.from_mapping(BASE)
    tags.for_aws()["owner"] = "someone-else"
    assert tags.values["owner"] == "ml-infra"


def test_a_stack_may_override_managed_by_and_add_its_own_tags():
    tags = CostTags.from_mapping({**BASE, "managed-by": "platform-team", "team_budget": "q4-2026"})
    assert tags.for_gcp()["managed-by"] == "platform-team"
    assert tags.for_gcp()["team_budget"] == "q4-2026"


def test_the_longest_legal_value_and_key_pass():
    longest = "a" * 63
    tags = CostTags.from_mapping({**BASE, longest: longest})
    assert tags.for_kubernetes()[longest] == longest


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"owner": "a" * 64}, r"tags\.owner: value of 64 characters is not allowed; use at most 63"),
        ({"k" * 64: "x"}, r"key of 64 characters is not allowed"),
        ({"owner": "ML-Infra"}, r"tags\.owner: 'ML-Infra' is not allowed; .*\(e\.g\. 'ml-infra'\)"),
        ({"owner": "data science"}, r"tags\.owner: 'data science' .*\(e\.g\. 'data-science'\)"),
        ({"owner": "team.ml"}, r"tags\.owner: 'team\.ml' is not allowed"),
        ({"owner": "ops/ml"}, r"tags\.owner: 'ops/ml' is not allowed"),
        ({"owner": "équipe"}, r"tags\.owner: 'équipe' is not allowed"),
        ({"owner": "-ml"}, r"starting and ending with a letter or digit"),
        ({"owner": "ml_"}, r"starting and ending with a letter or digit"),
        ({"owner": ""}, r"tags\.owner: '' is not allowed"),
        ({"owner": 42}, r"tags\.owner: 42 is not allowed; tag values are strings"),
        ({"Owner": "ml"}, r"tags\.Owner: key 'Owner' is not allowed"),
        ({"1st-owner": "ml"}, r"key '1st-owner' is not allowed; .*starting with a letter"),
        ({"owner-": "ml"}, r"key 'owner-' is not allowed"),
    ],
)
def test_an_illegal_tag_is_rejected_with_the_tag_the_value_and_a_legal_spelling(extra, message):
    with pytest.raises(TagError, match=message):
        CostTags.from_mapping({**BASE, **extra})


@pytest.mark.parametrize("missing", ["environment", "project"])
def test_the_tags_the_platform_derives_names_from_are_required(missing):
    tags = {k: v for k, v in BASE.items() if k != missing}
    with pytest.raises(TagError, match=rf"tags: missing required tag\(s\) {missing}"):
        CostTags.from_mapping(tags)


def test_more_tags_than_aws_allows_are_rejected():
    many = {f"extra-{i}": "x" for i in range(MAX_TAGS)}
    with pytest.raises(TagError, match=rf"tags: {MAX_TAGS + 5} tags is not allowed; use at most {MAX_TAGS}"):
        CostTags.from_mapping({**BASE, **many})


def test_tags_that_are_not_a_mapping_are_rejected_naming_the_field():
    with pytest.raises(TagError, match=r"mlops:tags: \['owner'\] is not allowed; use a mapping"):
        CostTags.from_mapping(["owner"], field="mlops:tags")
