"""Known truth, end to end through the command line: simulated flips must be found.

20,000 simulated 12-mers with 20 % of labels flipped, audited with the shipped
defaults. These are the project's acceptance tests; they take a few minutes.
"""

import json

import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from labtriage.cli import app

pytestmark = pytest.mark.slow
runner = CliRunner()


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    root = tmp_path_factory.mktemp("known_truth")
    table = root / "sim.csv"
    assert (
        runner.invoke(app, ["simulate", str(table), "--n", "20000", "--noise", "0.2"]).exit_code
        == 0
    )
    result = runner.invoke(app, ["audit", str(table), "--out", str(root / "audit"), "--quiet"])
    assert result.exit_code == 0, result.output
    return pd.read_csv(table), root / "audit"


def test_quality_score_separates_flipped_rows(audited):
    table, out = audited
    scores = pd.read_csv(out / "scores.csv")
    assert roc_auc_score(table["flipped"], -scores["quality"]) >= 0.90
    flagged = scores["is_issue"].to_numpy()
    assert table["flipped"][flagged].mean() > 0.7  # most flagged rows were flipped


def test_noise_estimate_lands_on_the_injected_rate(audited):
    table, out = audited
    result = runner.invoke(
        app, ["estimate-noise", "--from-scores", str(out / "scores.csv"), "--json"]
    )
    assert result.exit_code == 0, result.output
    estimate = json.loads(result.stdout)
    truth = table["flipped"].mean()
    assert abs(estimate["noise_rate"] - truth) <= 0.03
    assert estimate["interval"][0] <= truth <= estimate["interval"][1]
    for rate in estimate["flip_rates"].values():
        assert abs(rate - truth) <= 0.05


def test_report_states_model_quality_beside_the_estimate(audited):
    _, out = audited
    report = json.loads((out / "report.json").read_text())
    assert report["noise"]["noise_rate"] > 0
    assert report["models"]["blend"]["accuracy"] > 0.7
    assert report["training"]["first_noise_estimate"] > 0.1
