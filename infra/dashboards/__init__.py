"""The platform's Grafana dashboards as code (grafana-foundation-sdk): one module per dashboard.

``catalog.dashboards(scope, gpu)`` returns each dashboard's JSON by file name; the program provisions
them as ConfigMaps that Grafana's sidecar loads (infra/components/dashboards.py), and
``python -m infra.dashboards`` prints them (the demo's pictures and the metric test read that).
"""
