"""The metrics' version: in every reference-cache key and on every result, so numbers from
different metric definitions are never cached together or ranked against each other."""
from __future__ import annotations

# Bump by hand when a metric's definition changes (a weights or layer change is caught
# by the extractor's key on its own):
# 1: 10-class classifier, fc1 before ReLU; fid, precision, recall (k=3)
# 2: + "not a digit" class; fc1 after ReLU, inside the digits' radius, x10/radius;
#    + density, coverage (k=5)
METRIC_VERSION = "2"


def metrics_version(mnist_key: str) -> str:
    """The string a result carries: the metric definitions and the MNIST features' key
    (weights hash and layer); Inception's features never change."""
    return f"{METRIC_VERSION}/mnist-{mnist_key}"
