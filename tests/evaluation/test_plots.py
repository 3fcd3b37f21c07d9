from qdup.cli import main
from qdup.evaluation.plots import FILES


def test_evaluate_writes_three_pngs(capsys, tiny_model_dir, toy_path, tmp_path):
    code = main(["evaluate", str(tiny_model_dir), str(toy_path), "--split", "test", "--plots", str(tmp_path / "p")])
    out = capsys.readouterr().out
    assert code == 0 and "plots:" in out
    for name in FILES:
        data = (tmp_path / "p" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
