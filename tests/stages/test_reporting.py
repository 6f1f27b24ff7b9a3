"""report.md, the model card and the evaluation plots, on the bundled data."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from matplotlib.figure import Figure

from mlops.core.config import load_params
from mlops.core.data import read_csv, split
from mlops.stages import evaluation as ev
from mlops.stages import gates as stage_gates
from mlops.stages import plots
from mlops.stages.model_card import build_model_card, write_model_card
from mlops.stages.pr_report import render_report, write_report
from mlops.stages.training import train

ROOT = Path(__file__).resolve().parents[2]
VALIDATION = {"passed": False, "summary": "9 checks, 1 blocking failure",
              "failures": ["missing: column credit_amount has 7% missing | over 5%",
                           {"check": "range", "message": "age above 100 in 2 rows"}]}


@pytest.fixture(scope="module")
def bundle():
    params = load_params(ROOT / "params.yaml", overrides=["evaluation.bootstrap_samples=100"])
    frame = read_csv(params.resolve(params.data.path))
    train_frame, test_frame = split(frame, params.data.target,
                                    test_size=params.data.test_size, seed=params.seed)
    model = train(params, train_frame)
    champion = train(params, train_frame.sample(100, random_state=1))
    result = ev.evaluate(model, test_frame, params, champion=champion)
    return params, model, test_frame, result


@pytest.fixture(scope="module")
def run_dir(bundle, tmp_path_factory):
    """A run folder as the evaluation notebook writes it."""
    params, model, test_frame, result = bundle
    folder = tmp_path_factory.mktemp("run")
    images = plots.save_figures(plots.evaluation_figures(model, test_frame, params, result),
                                folder / "plots")
    write_report(result, folder / "report.md", images=images, validation=VALIDATION,
                 run_id="2026-11-02T10-00-00-ab12", git_commit="0123456789abcdef",
                 model_name="credit-risk")
    write_model_card(result, params, folder / "README.md")
    return folder


@pytest.mark.slow
def test_report_renders_tables_and_working_image_links(run_dir):
    mistune = pytest.importorskip("mistune")
    text = (run_dir / "report.md").read_text(encoding="utf-8")
    html = mistune.create_markdown(plugins=["table"])(text)
    assert html.count("<table>") >= 4  # gates, metrics, two fairness tables
    sources = re.findall(r'<img src="([^"]+)"', html)
    assert len(sources) == 6
    for source in sources:
        assert not Path(source).is_absolute()
        assert (run_dir / unquote(source)).is_file(), source


def test_report_content(bundle, run_dir):
    _, _, _, result = bundle
    text = (run_dir / "report.md").read_text(encoding="utf-8")
    assert "2026-11-02T10-00-00-ab12" in text and "0123456789ab" in text
    for gate in result["gates"]:
        assert f"`{gate['gate']}`" in text
    failed = len(stage_gates.failed_gates(result))
    assert (f"{failed} of {len(result['gates'])} gates failed" in text) == (failed > 0)
    assert "7% missing \\| over 5%" in text  # pipes escaped, tables stay intact
    for table in re.findall(r"(?:^\|.*\|$\n?)+", text, flags=re.MULTILINE):
        rows = table.strip().splitlines()
        widths = {len(re.split(r"(?<!\\)\|", row)) for row in rows}
        assert len(widths) == 1, rows[0]
    assert "range: age above 100 in 2 rows" in text
    assert "Data validation ❌ failed" in text
    delta = result["champion"]["difference"]["roc_auc"]
    assert f"{delta:+.4f}" in text
    assert "`checking_account`" in text
    assert "### Baseline" in text and "must beat scikit-learn's `DummyClassifier" in text
    assert "| `baseline_roc_auc` | ROC-AUC vs DummyClassifier(strategy='prior') |" in text
    assert "| F1 of class 1 |" in text  # the metric table says which class F1 scores
    # groups under evaluation.min_group_size are named, marked, and left out of the gates
    assert "left out of the parity numbers and the gates: `[60, 120)`" in text
    assert "| [60, 120) (skipped) | 11 |" in text
    assert "| Group | n | Selection rate (predicted `1`) | TPR | FPR | Accuracy |" in text


def test_report_without_champion_or_validation(bundle):
    _, _, _, result = bundle
    text = render_report({**result, "champion": None})
    assert "first release" in text
    assert "summary not provided" in text
    assert "### Plots" not in text


def test_report_takes_a_validation_report_dict(bundle):
    from mlops.stages.validation_report import CheckResult, ValidationReport

    _, _, _, result = bundle
    report = ValidationReport((
        CheckResult("missing", "age", "missing_share", 0.1, 0.01, 0.05, "block",
                    "age: 10% missing"),
        CheckResult("constant", "job", "not_constant", 0, 0, None, "pass", ""),
    ), source="data/german.csv")
    text = render_report(result, validation=report.to_dict())
    assert "Data validation ❌ failed" in text
    assert "- block missing(age): age: 10% missing" in text
    assert "constant(job)" not in text.split("### Data validation")[1].split("###")[0]


def test_failed_and_passed_headline(bundle):
    _, _, _, result = bundle
    passing = {**result, "gates": [dict(g, passed=True) for g in result["gates"]]}
    assert "✅ All gates passed" in render_report(passing)
    failing = {**result, "gates": [dict(g, passed=False) for g in result["gates"]]}
    assert f"❌ {len(result['gates'])} of {len(result['gates'])} gates failed" in (
        render_report(failing))


def test_model_card_carries_model_index(bundle, run_dir):
    from huggingface_hub import ModelCard

    params, _, _, result = bundle
    card = ModelCard.load(run_dir / "README.md")
    found = {r.metric_type: r.metric_value for r in card.data.eval_results}
    expected = {k: v for k, v in result["metrics"].items() if v is not None}
    assert found == expected
    assert card.data.model_name == params.model.name
    assert card.data.to_dict()["model-index"][0]["results"][0]["dataset"]["split"] == "test"
    text = card.text
    for section in ("## Intended use", "## Data", "## Metrics", "## Fairness",
                    "## Top features", "## Limitations"):
        assert section in text
    for feature in result["importance"]["top"]:
        assert f"`{feature}`" in text
    # The oldest age band has 11 rows in the held-out split: the card warns about it.
    assert "[60, 120) (n=11)" in text and "not part of the parity numbers" in text
    baseline = result["baseline"]
    assert "## Baseline" in text and "DummyClassifier(strategy='prior')" in text
    low = baseline["interval"]["low"]
    assert f"improvement {baseline['improvement']:+.4f} (95% paired bootstrap interval " \
           f"{low:+.4f}" in text


def test_model_card_options(bundle):
    params, _, _, result = bundle
    card = build_model_card(result, params, intended_use="Only for teaching.",
                            limitations=["Data from 1994."], license="mit")
    assert "Only for teaching." in card.text and "- Data from 1994." in card.text
    assert card.data.license == "mit"


# --- plots ---------------------------------------------------------------------------------

def test_save_figures_writes_png_files(run_dir):
    names = sorted(p.name for p in (run_dir / "plots").iterdir())
    assert names == sorted(f"{n}.png" for n in ("confusion_matrix", "roc", "precision_recall",
                                                 "calibration", "fairness", "importance"))
    for name in names:
        assert (run_dir / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plots_show_the_data(bundle):
    params, model, test_frame, result = bundle
    matrix = result["confusion_matrix"]
    fig = plots.plot_confusion_matrix(matrix["matrix"], matrix["labels"])
    texts = sorted(int(t.get_text()) for t in fig.axes[0].texts)
    assert texts == sorted(np.ravel(matrix["matrix"]).tolist())
    fig = plots.plot_importance(result["importance"])
    assert len(fig.axes[0].patches) == len(result["importance"]["features"])
    fig = plots.plot_fairness(result["fairness"])
    assert len([ax for ax in fig.axes if ax.patches]) == 2  # sex and age panels
    figs = plots.evaluation_figures(model, test_frame, params, result)
    assert all(isinstance(f, Figure) for f in figs.values())
    roc_legend = [t.get_text() for t in figs["roc"].axes[0].get_legend().get_texts()]
    assert f"1 (AUC {result['metrics']['roc_auc']:.3f})" in roc_legend


def test_jupyter_displays_each_evaluation_plot_as_a_png_image(bundle):
    from IPython.core.formatters import DisplayFormatter

    params, model, test_frame, result = bundle
    formatter = DisplayFormatter()  # no pyplot backend: a bare Figure would show as text
    for name, fig in plots.evaluation_figures(model, test_frame, params, result).items():
        png = formatter.format(fig)[0].get("image/png")
        assert png is not None and png.startswith(b"\x89PNG"), name


def test_multiclass_report_and_plots(tmp_path):
    from tests.stages.test_evaluation import iris_setup

    params, model, test = iris_setup()
    result = ev.evaluate(model, test, params)
    figs = plots.evaluation_figures(model, test, params, result)
    assert len(figs["roc"].axes[0].get_lines()) == 4  # three classes and chance
    images = plots.save_figures({"roc": figs["roc"]}, tmp_path / "img")
    text = write_report(result, tmp_path / "report.md", images=images).read_text("utf-8")
    assert "multiclass target `target`" in text and "![ROC curve](img/roc.png)" in text
    # averages are named wherever a metric is shown; fairness says it is one-vs-rest
    assert "| `min_f1` | macro F1 |" in text and "| macro F1 |" in text
    assert "| macro one-vs-rest ROC-AUC |" in text
    assert "One-vs-rest accuracy (class `1`)" in text
    assert "predicting class `1` against all other classes" in text
    card = build_model_card(result, params).text
    assert "| macro precision |" in card and "Brier score (summed over classes, halved)" in card
