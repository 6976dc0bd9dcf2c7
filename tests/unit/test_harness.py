"""The offline harness behaves like the engine where a preview depends on it."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest

from mlops_platform_offline.harness import SECRET_MARKER, SECRET_SIG, ProgramError, run_function, run_program

PROGRAMS = Path(__file__).parent / "programs"


class Holder(pulumi.ComponentResource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("test:index:Holder", name, None, opts)
        self.register_outputs({})


def test_every_registration_is_recorded_with_parent_provider_protect_and_dependencies():
    def program():
        holder = Holder("holder")
        provider = aws.Provider("eu", region="eu-central-1", opts=pulumi.ResourceOptions(parent=holder))
        bucket = aws.s3.Bucket("data", opts=pulumi.ResourceOptions(parent=holder, provider=provider, protect=True))
        aws.s3.BucketVersioning(
            "data-versioning",
            bucket=bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=pulumi.ResourceOptions(parent=holder, provider=provider, depends_on=[bucket]),
        )

    preview = run_function(program, project="p", stack="s")
    bucket = preview.one("aws:s3/bucket:Bucket")
    versioning = preview.one("aws:s3/bucketVersioning:BucketVersioning")
    holder = preview.one("test:index:Holder")
    assert bucket.urn == "urn:pulumi:s::p::test:index:Holder$aws:s3/bucket:Bucket::data"
    assert bucket.parent == holder.urn and not holder.custom and bucket.custom
    assert bucket.protect and not versioning.protect
    assert preview.provider_of(bucket).inputs["region"] == "eu-central-1"
    assert bucket.urn in versioning.dependencies
    assert versioning.inputs["versioningConfiguration"] == {"status": "Enabled"}


def test_computed_outputs_are_filled_realistically_so_downstream_values_are_not_empty():
    def program():
        provider = aws.Provider("eu", region="eu-central-1")
        bucket = aws.s3.Bucket("data", bucket_prefix="models-", opts=pulumi.ResourceOptions(provider=provider))
        pulumi.export("uri", bucket.bucket.apply(lambda name: f"s3://{name}"))
        pulumi.export("arn", bucket.arn)
        pulumi.export("regional", bucket.bucket_regional_domain_name)

    outputs = run_function(program).outputs
    assert outputs["uri"].startswith("s3://models-") and len(outputs["uri"]) > len("s3://models-")
    assert outputs["arn"] == "arn:aws:s3:::" + outputs["uri"].removeprefix("s3://")
    assert outputs["regional"].endswith(".s3.eu-central-1.amazonaws.com")


def test_a_duplicate_urn_is_rejected_as_the_engine_does():
    def program():
        aws.s3.Bucket("same")
        aws.s3.Bucket("same")

    with pytest.raises(ProgramError, match=r"Duplicate resource URN '.*::same'"):
        run_function(program)


def test_a_program_error_is_surfaced_with_its_message():
    def program():
        raise ValueError("mlops:cluster.max_size: 0 is not allowed")

    with pytest.raises(ProgramError, match=r"mlops:cluster\.max_size: 0 is not allowed") as raised:
        run_function(program)
    assert isinstance(raised.value.__cause__, ValueError)


def test_an_invoke_without_a_fake_fails_naming_its_token():
    def program():
        aws.ec2.get_vpc_output(default=True)

    with pytest.raises(ProgramError, match=r"no fake for invoke 'aws:ec2/getVpc:getVpc'"):
        run_function(program)


def test_secret_inputs_are_recorded_in_wire_form_and_exported_secrets_are_redacted():
    def program():
        secret = pulumi.Output.secret("s3cr3t")
        k8s.core.v1.Secret("creds", string_data={"password": secret})
        pulumi.export("password", secret)

    preview = run_function(program)
    # The SDK marks the whole containing object secret, as it does on the wire to the real engine.
    assert preview.one("kubernetes:core/v1:Secret").inputs["stringData"] == {
        SECRET_SIG: SECRET_MARKER, "value": {"password": "s3cr3t"}}
    assert preview.outputs["password"] == "[secret]"


def test_stack_transforms_run_for_every_later_resource_as_the_engine_runs_them():
    def add_label(args: pulumi.ResourceTransformArgs):
        if args.type_ != "kubernetes:core/v1:Namespace":
            return None
        return pulumi.ResourceTransformResult({**args.props, "metadata": {"labels": {"seen": "stack"}}}, args.opts)

    def program():
        pulumi.runtime.register_resource_transform(add_label)
        k8s.core.v1.Namespace("ns")

    assert run_function(program).one("kubernetes:core/v1:Namespace").inputs["metadata"] == {"labels": {"seen": "stack"}}


def test_transforms_apply_own_then_ancestors_then_stack_and_may_change_options():
    order: list[str] = []

    def recorder(label: str, protect: bool | None = None):
        def transform(args: pulumi.ResourceTransformArgs):
            if not args.custom:
                return None
            order.append(label)
            opts = pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(protect=protect)) if protect else args.opts
            return pulumi.ResourceTransformResult(args.props, opts)
        return transform

    def program():
        pulumi.runtime.register_resource_transform(recorder("stack"))
        outer = Holder("outer", pulumi.ResourceOptions(transforms=[recorder("grandparent")]))
        inner = Holder("inner", pulumi.ResourceOptions(parent=outer, transforms=[recorder("parent")]))
        aws.s3.Bucket("b", opts=pulumi.ResourceOptions(parent=inner, transforms=[recorder("own", protect=True)]))

    preview = run_function(program)
    assert order == ["own", "parent", "grandparent", "stack"]
    assert preview.one("aws:s3/bucket:Bucket").protect


def test_a_program_directory_runs_with_its_config_and_exports():
    preview = run_program(
        PROGRAMS / "config_echo", project="echo", stack="dev", config={"echo:greeting": "hello"}
    )
    assert preview.outputs == {"greeting": "hello", "stack": "dev"}
    assert preview.one("aws:s3/bucket:Bucket").name == "echo-hello"


def test_two_runs_do_not_share_state():
    def program():
        aws.s3.Bucket("only")

    first, second = run_function(program), run_function(program)
    assert len(first.resources) == len(second.resources) == 1
