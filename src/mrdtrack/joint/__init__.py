"""Joint models of a longitudinal MRD level and progression (shared random effects).

``fit_joint_model`` (ML, adaptive Gauss-Hermite), ``dynamic_prediction`` (Rizopoulos 2011),
data builders ``joint_data`` / ``joint_data_from_cohort`` and the known-truth generator
``simulate_joint``. Methods and validation: docs/methods/joint.md.
"""

from __future__ import annotations

from mrdtrack.joint.data import JointData, joint_data, joint_data_from_cohort
from mrdtrack.joint.fit import fit_joint_model
from mrdtrack.joint.predict import dynamic_prediction
from mrdtrack.joint.result import DynamicPrediction, JointModelResult
from mrdtrack.joint.simulate import JointTruth, simulate_joint

__all__ = [
    "DynamicPrediction",
    "JointData",
    "JointModelResult",
    "JointTruth",
    "dynamic_prediction",
    "fit_joint_model",
    "joint_data",
    "joint_data_from_cohort",
    "simulate_joint",
]
