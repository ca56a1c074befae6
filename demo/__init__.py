"""`make demo`: the whole ML lifecycle on one machine, with the platform's offline preview."""

from pathlib import Path

# The infra environment's interpreter (make setup): the demo runs the program's own code in it (preview, dashboards).
INFRA_PYTHON = Path(__file__).resolve().parent.parent / ".venv-infra" / "bin" / "python"

# What the demo starts beside its critical path (the feature store, the staging preview, the dashboards' JSON) runs
# with this prefix: at a lower CPU priority it takes the cores the pipeline steps and servers leave idle, not theirs.
BACKGROUND = ("nice", "-n", "10")
