"""The platform's CrossGuard policy pack (pulumi-policy): rules in aws_rules.py and kubernetes_rules.py."""
