import base64

import numpy as np
import pandas as pd

from labtriage.figures import FigureData, audit_figures, numeric_columns


def test_numeric_columns_are_measurements_read_depth_first():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "sequence": ["ACD"] * 50,
            "score": rng.normal(size=50),
            "count_input": rng.integers(10, 1000, 50),
            "hd": rng.integers(0, 4, 50),  # a code, not a measurement
            "flipped": rng.random(50) < 0.5,
            "plate": "P1",
        }
    )
    assert numeric_columns(frame) == ["count_input", "score"]
    assert numeric_columns(frame, exclude=["score"]) == ["count_input"]


def test_figures_for_a_fitness_a_column_and_the_yardstick():
    rng = np.random.default_rng(0)
    n = 300
    labels = rng.integers(0, 2, n)
    quality = rng.random(n)
    scores = pd.DataFrame(
        {"label": labels, "quality": quality, "p_label": quality, "is_issue": quality < 0.2}
    )
    models = {
        name: {"log_loss": 0.5, "accuracy": 0.8, "recall": {"0": 0.9, "1": 0.7}}
        for name in ("lstm", "baseline", "blend")
    }
    data = FigureData(
        scores=scores,
        fitness=np.where(labels == 1, 1.0, 0.0) + rng.normal(0, 0.3, n),
        threshold=0.5,
        fitness_name="enrichment",
        columns={"reads": rng.integers(10, 100_000, n).astype(float)},
        models=models,
        yardstick={"majority_class": "0", "majority_accuracy": 0.52, "prior_log_loss": 0.69},
    )
    figures = audit_figures(data)
    assert list(figures)[2:] == [
        "enrichment against label quality, with the threshold",
        "reads against label quality",
        "The models against predicting the majority class",
    ]
    for png in figures.values():
        assert base64.b64decode(png)[:8] == b"\x89PNG\r\n\x1a\n"
