"""What the drift job pushes to the Pushgateway: metric names, the push job and the default PSI threshold.

No dependencies (no kfp): the drift pipeline pushes these, and the program's dashboards
(infra/dashboards/drift.py) and the serving chart's ``ModelDriftHigh`` rule read them.
"""

# Share of the model's features whose input distribution drifted (0 to 1), per {namespace, model}.
DRIFT_METRIC = "model_drift_score"
# PSI of one feature, labelled {feature}.
FEATURE_METRIC = "model_drift_feature_psi"
# The PSI at or above which a feature counts as drifted, as the run used it (a series, so a panel draws it).
THRESHOLD_METRIC = "model_drift_psi_threshold"
# Seconds the drift step took (reading the log, the statistics, MLflow).
DURATION_METRIC = "model_drift_run_duration_seconds"
# The Pushgateway job; the grouping key adds namespace and model (the InferenceService).
PUSH_JOB = "model-drift"
# The pipeline's default threshold (the usual reading: 0.2 and above is a significant shift).
DEFAULT_PSI_THRESHOLD = 0.2
