import numpy as np

from qdup.cli import main
from qdup.evaluation.plots import FILES


def test_evaluate_writes_three_pngs(capsys, tiny_model_dir, toy_path, tmp_path):
    code = main(["evaluate", str(tiny_model_dir), str(toy_path), "--split", "test", "--plots", str(tmp_path / "p")])
    out = capsys.readouterr().out
    assert code == 0 and "plots:" in out
    for name in FILES:
        data = (tmp_path / "p" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_a_plots_folder_that_cannot_be_written_is_refused_before_the_scoring(capsys, tiny_model_dir, toy_path,
                                                                            tmp_path, monkeypatch):
    from qdup.evaluation import pairs

    def scored(*args, **kwargs):
        raise AssertionError("the pairs were scored before the plots folder was checked")

    monkeypatch.setattr(pairs, "evaluate", scored)  # all the work, lost to an error after it
    (tmp_path / "file").write_text("in the way")
    code = main(["evaluate", str(tiny_model_dir), str(toy_path), "--plots", str(tmp_path / "file" / "p")])
    assert code == 1 and capsys.readouterr().err == (
        f"Error: {tmp_path / 'file' / 'p' / 'roc.png'}: cannot write there (Not a directory)\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_the_roc_of_pairs_of_one_label_says_its_auc_is_undefined():
    # The text said "undefined (every pair has the same label)", the picture's legend "AUC nan".
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from qdup.evaluation import plots

    for labels, expected in (([1, 1, 1], "AUC undefined (every pair has the same label)"), ([0, 1, 1], "AUC 1.000")):
        figure = plots._roc(plt, np.array(labels, bool), np.array([0.2, 0.6, 0.9]), 0.5, "")
        assert [t.get_text() for t in figure.axes[0].get_legend().get_texts()][0] == expected
        plt.close(figure)
