"""A fresh-cluster simulation of `pulumi up` and `pulumi destroy`, offline (``make simulate``).

``engine`` orders the stack's resources as the Pulumi engine would on an empty cluster; ``order``,
``references``, ``reachability``, ``awaits``, ``destroy`` (and ``scheduling``, ``names``) each check
one class of finding (``findings.CLASSES``); ``report`` prints the waves and the findings.
"""

# What the deploy workflow passes once it has pushed the step image (scripts/publish_step_image.sh):
# the simulation runs the stack as the deploy does. (tests/infra/conftest.py could import it from here.)
STEP_IMAGE = {"pipelineStepImageDigest": "sha256:" + "5e" * 32}
