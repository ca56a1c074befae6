"""The ECR repository of the pipeline step image (pipelines/Dockerfile, pipelines/image.py).

Tags are immutable (a pushed tag never changes what it names), every push is scanned, and
images are encrypted with the stack's KMS key. The program pins each pipeline step to
``<repository url>@<digest>``: the digest of the image pushed under the pipelines' content tag
(:func:`published_digest`, looked up wherever the program runs, a PR's preview included), or
config ``pipelineStepImageDigest`` where set; a tag is only a label.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from pipelines.image import IMAGE_NAME, content_tag

# Untagged images (superseded pushes) go after this many days; tagged ones stay.
UNTAGGED_DAYS = 14


def repository_name(stack_name: str) -> str:
    """``<stack name>-pipeline-steps``."""
    return f"{stack_name}-{IMAGE_NAME.removeprefix('mlplatform-')}"


def published_digest(stack_name: str, provider: pulumi.ProviderResource) -> str:
    """The digest of the step image built from this checkout (its content tag) in the stack's repository, or "" where
    none is pushed yet (or the repository does not exist: the first `pulumi up` creates it)."""
    try:
        found = aws.ecr.get_image(repository_name=repository_name(stack_name), image_tag=content_tag(),
                                  opts=pulumi.InvokeOptions(provider=provider))
    except Exception as error:  # noqa: BLE001 - the provider reports a missing image or repository as an invoke error
        pulumi.log.info(f"step image {repository_name(stack_name)}:{content_tag()} not found ({str(error).splitlines()[0]})")
        return ""
    return found.image_digest


class StepImageRepository(pulumi.ComponentResource):
    """``<stack>-pipeline-steps``: immutable tags, scan on push, KMS, untagged images expire."""

    url: pulumi.Output[str]
    name: pulumi.Output[str]

    def __init__(self, name: str, kms_key_arn: pulumi.Input[str], protect: bool, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplatform:aws:StepImageRepository", name, None, opts)
        repository = aws.ecr.Repository(
            f"{name}-pipeline-steps",
            name=repository_name(name),
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
            encryption_configurations=[aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS", kms_key=kms_key_arn)],
            force_delete=not protect,
            # Running pipelines pull from it: kept with the stack's other stateful resources.
            opts=pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect),
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-pipeline-steps-lifecycle",
            repository=repository.name,
            policy=json.dumps({"rules": [{
                "rulePriority": 1,
                "description": f"expire untagged images after {UNTAGGED_DAYS} days",
                "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": UNTAGGED_DAYS},
                "action": {"type": "expire"},
            }]}),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.url = repository.repository_url
        self.name = repository.name
        self.register_outputs({"url": self.url, "name": self.name})
