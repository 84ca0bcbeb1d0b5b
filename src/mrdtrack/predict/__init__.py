"""Dynamic prediction of progression from each patient's MRD history.

Landmark supermodel (van Houwelingen 2007) with cross-validated IPCW accuracy measures, the
joint model of the MRD level (`mrdtrack.predict.joint`) scored on the same folds, and
prediction from the panel multi-state model for comparison.
"""

from mrdtrack.predict.crossval import (
    DEFAULT_MODELS,
    MODEL_LABELS,
    bootstrap_risk,
    cross_validate,
)
from mrdtrack.predict.dynamic import (
    PatientPrediction,
    predict_patient,
    risk_trajectory,
    watch_list,
)
from mrdtrack.predict.evaluate import (
    PredictionAccuracy,
    brier_score,
    calibration,
    compare_models,
    index_of_prediction_accuracy,
    integrated_brier_score,
    score_predictions,
    time_dependent_auc,
)
from mrdtrack.predict.joint import (
    JointComparison,
    JointCrossValidation,
    JointOptions,
    compare_joint_with_supermodel,
    cross_validate_joint,
    joint_risk,
)
from mrdtrack.predict.multistate import compare_with_multistate, multistate_risk
from mrdtrack.predict.stack import MRD_FEATURES, landmark_stack, mrd_history
from mrdtrack.predict.supermodel import (
    LandmarkSupermodel,
    breslow_cumhaz,
    current_rows,
    fit_landmark_supermodel,
)

__all__ = [
    "DEFAULT_MODELS",
    "MODEL_LABELS",
    "MRD_FEATURES",
    "JointComparison",
    "JointCrossValidation",
    "JointOptions",
    "LandmarkSupermodel",
    "PatientPrediction",
    "PredictionAccuracy",
    "bootstrap_risk",
    "breslow_cumhaz",
    "brier_score",
    "calibration",
    "compare_joint_with_supermodel",
    "compare_models",
    "compare_with_multistate",
    "cross_validate",
    "cross_validate_joint",
    "current_rows",
    "fit_landmark_supermodel",
    "index_of_prediction_accuracy",
    "integrated_brier_score",
    "joint_risk",
    "landmark_stack",
    "mrd_history",
    "multistate_risk",
    "predict_patient",
    "risk_trajectory",
    "score_predictions",
    "time_dependent_auc",
    "watch_list",
]
