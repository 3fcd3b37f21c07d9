"""deploy/compose.yaml cannot be run here (no Docker): check it against the Compose
specification's JSON schema (vendored by check-jsonschema) and check what qdup relies on."""

from __future__ import annotations

import subprocess
import sys

import pytest

from helpers import ROOT

COMPOSE = ROOT / "deploy" / "compose.yaml"


def test_compose_file_follows_the_compose_spec():
    pytest.importorskip("check_jsonschema", reason="pip install -e '.[dev]'")
    done = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
                           str(COMPOSE)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_file_points_qdup_at_milvus_without_secrets():
    yaml = pytest.importorskip("ruamel.yaml", reason="check-jsonschema brings it: pip install -e '.[dev]'")
    spec = yaml.YAML(typ="safe").load(COMPOSE.read_text())
    services = spec["services"]
    build, serve = services["qdup-index"], services["qdup"]
    assert "--uri" in build["command"] and build["command"][build["command"].index("--uri") + 1] == \
        "http://standalone:19530"
    assert build["depends_on"]["standalone"]["condition"] == "service_healthy"
    assert serve["depends_on"]["qdup-index"]["condition"] == "service_completed_successfully"
    assert serve["command"][serve["command"].index("--index") + 1] == "/index/questions"
    for service in (build, serve):  # tokens come from the environment, never written in the file
        assert service["environment"]["QDUP_MILVUS_TOKEN"].startswith("${")
        assert not any("token" in str(arg).lower() for arg in service["command"])
    assert (ROOT / "deploy" / build["build"]["dockerfile"].removeprefix("deploy/")).exists()
