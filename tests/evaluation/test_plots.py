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
