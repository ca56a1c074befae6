"""The ECR repositories of the platform's own images: the pipeline step image (pipelines/Dockerfile,
pipelines/image.py) and the model server image KServe runs (serving/Dockerfile, pipelines/serving_image.py).

Tags are immutable (a pushed tag never changes what it names), every push is scanned, and
images are encrypted with the stack's KMS key. The program pins each pipeline step, and the
platform's kserve-mlserver runtime, to ``<repository url>@<digest>``: the digest of the image pushed
under this checkout's content tag (:func:`published_digest`, looked up wherever the program runs, a
PR's preview included), or config (``pipelineStepImageDigest``, ``servingImageDigest``) where set;
a tag is only a label.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from pipelines import image, serving_image
from pipelines.features import image as features_image

# Untagged images (superseded pushes) go after this many days; tagged ones stay.
UNTAGGED_DAYS = 14


def repository_name(stack_name: str, image_name: str = image.IMAGE_NAME) -> str:
    """``<stack name>-pipeline-steps`` (or ``-model-server``): the image's name less the ``mlplatform-`` prefix."""
    return f"{stack_name}-{image_name.removeprefix('mlplatform-')}"


def published_digest(stack_name: str, provider: pulumi.ProviderResource, image_name: str = image.IMAGE_NAME,
                     tag: str | None = None) -> str:
    """The digest of the image built from this checkout (``tag``, its content tag; the step image's by default) in the
    stack's repository, or "" where none is pushed yet (or the repository does not exist: the first `pulumi up` creates it)."""
    name, tag = repository_name(stack_name, image_name), tag or image.content_tag()
    try:
        found = aws.ecr.get_image(repository_name=name, image_tag=tag, opts=pulumi.InvokeOptions(provider=provider))
    except Exception as error:  # noqa: BLE001 - the provider reports a missing image or repository as an invoke error
        pulumi.log.info(f"image {name}:{tag} not found ({str(error).splitlines()[0]})")
        return ""
    return found.image_digest


class ImageRepository(pulumi.ComponentResource):
    """``<stack>-<image>``: immutable tags, scan on push, KMS, untagged images expire."""

    url: pulumi.Output[str]
    name: pulumi.Output[str]
    # The component's type token (part of every child's URN): one per image.
    TYPE = "mlplatform:aws:ImageRepository"
    IMAGE_NAME = ""

    def __init__(self, name: str, kms_key_arn: pulumi.Input[str], protect: bool, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.TYPE, name, None, opts)
        suffix = self.IMAGE_NAME.removeprefix("mlplatform-")
        repository = aws.ecr.Repository(
            f"{name}-{suffix}",
            name=repository_name(name, self.IMAGE_NAME),
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
            encryption_configurations=[aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS", kms_key=kms_key_arn)],
            force_delete=not protect,
            # Running pipelines and models pull from it: kept with the stack's other stateful resources.
            opts=pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect),
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-{suffix}-lifecycle",
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


class StepImageRepository(ImageRepository):
    """``<stack>-pipeline-steps``: the pipeline step image (its type token and names are those of deployed stacks)."""

    TYPE = "mlplatform:aws:StepImageRepository"
    IMAGE_NAME = image.IMAGE_NAME


class ServingImageRepository(ImageRepository):
    """``<stack>-model-server``: the model server image the platform's kserve-mlserver runtime runs."""

    TYPE = "mlplatform:aws:ServingImageRepository"
    IMAGE_NAME = serving_image.IMAGE_NAME


class FeatureImageRepository(ImageRepository):
    """``<stack>-feature-steps``: the features step image (pipelines/features/Dockerfile) the feature steps run."""

    TYPE = "mlplatform:aws:FeatureImageRepository"
    IMAGE_NAME = features_image.IMAGE_NAME
