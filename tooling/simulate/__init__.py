"""A fresh-cluster simulation of `pulumi up` and `pulumi destroy`, offline (``make simulate``).

``engine`` orders the stack's resources as the Pulumi engine would on an empty cluster; ``order``,
``references``, ``reachability``, ``awaits``, ``destroy`` (and ``scheduling``, ``names``) each check
one class of finding (``findings.CLASSES``); ``report`` prints the waves and the findings.
"""
