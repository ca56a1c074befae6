"""`make demo`: the whole ML lifecycle on one machine, with the platform's offline preview."""

# What the demo starts beside its critical path (the feature store, the staging preview, the dashboards' JSON) runs
# with this prefix: at a lower CPU priority it takes the cores the pipeline steps and servers leave idle, not theirs.
BACKGROUND = ("nice", "-n", "10")
