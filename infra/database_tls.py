"""Where a client of the in-cluster PostgreSQL finds the CA it verifies the server with (``sslmode=verify-full``).

The server's component (components/cluster_postgres.py) publishes the CA in a ConfigMap; every client (MLflow, the
backup CronJob, the feature server) mounts it here. Shared facts, so clients need not import the server's component.
"""

# The ConfigMap, in each client's namespace, that holds the CA (components/cluster_postgres.py writes it).
CA_CONFIG_MAP = "postgres-ca"
CA_DIR = "/etc/postgres-ca"
CA_FILE = f"{CA_DIR}/ca.crt"
