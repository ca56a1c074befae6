"""A fresh-cluster simulation of `pulumi up` and `pulumi destroy`, offline (``make simulate``)."""
