"""The once-per-account parts of the platform (bootstrap/Pulumi.yaml): a Pulumi program of its own."""
