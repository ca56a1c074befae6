"""The platform's offline tools: the program run under mocks, and what is built on it.

offline.py + mocks.py run the program for a stack with no cloud; preview.py, snapshot.py,
preview_diff.py (+ replacements.py, cost.py) are the offline preview and diff; policy_report.py
runs the policy pack over a stack; ci_runners.py says where each stack's CI jobs run.

Imports run one way: these tools import the program (infra/) and the pack (policies/); neither
imports them.
"""
