"""The scikit-learn pipeline `metrics analyze` is timed against (technical.md, Measured speed).

python3 benches/sklearn_pipeline.py IN.csv OUT.csv

Reads the CSV with pandas, fits scikit-learn's IsolationForest (100 trees, as `analyze`'s default, 256 samples a tree,
contamination 0.05, on every core) on the metric columns, scores every row and writes the rows
with their score and verdict: the same read, fit, score and write that `analyze` does.
Needs pandas and scikit-learn.
"""
import sys

import pandas as pd
from sklearn.ensemble import IsolationForest

src, dst = sys.argv[1], sys.argv[2]
frame = pd.read_csv(src)
metrics = frame.drop(columns=[c for c in ("timestamp", "label", "anomaly_type") if c in frame])
values = metrics.to_numpy()
forest = IsolationForest(
    n_estimators=100, max_samples=256, contamination=0.05, random_state=1, n_jobs=-1
).fit(values)
frame["anomaly_score"] = -forest.score_samples(values)
frame["is_anomaly"] = forest.predict(values) == -1
frame.to_csv(dst, index=False)
