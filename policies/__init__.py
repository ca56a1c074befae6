"""The platform's CrossGuard policy pack (pulumi-policy): one module of rules per area (s3, eks, nodes, rds, iam, protection, kubernetes), collected in pack.py."""
