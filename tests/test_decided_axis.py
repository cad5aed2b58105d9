"""A result a person chose is never replaced silently (issue 27, finding 2). The record says how
each published reconstruction's axis was decided; a campaign or ``watch`` run that replaces a
reconstruction whose axis a person decided keeps that axis unless its parameters name an axis or
a search, or it was told to replace it; manifests give a scan its own parameters; every
replacement is kept as history in the record and the manifest. Whole flows on the local backend
with the CPU engine (a 90 x 4 x 64 scan), then the rules one by one."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tomocupy_gladier.campaign.manifest import ManifestError, load_manifest
from tomocupy_gladier.cli import main
from tomocupy_gladier.compute.axis import AxisDecision, describe
from tomocupy_gladier.compute.recon import keep_decided_axis, superseded
from tomocupy_gladier.tools.registry import load_config
from tomocupy_gladier.local.providers.search import SearchIndex
from tomocupy_gladier.planning.plan import Ask, Origin, RunRequest, plan

from tests.tiny_experiment import tiny_experiment

AUTO = '[recon]\nrotation-axis-auto = "auto"\nrotation-axis-method = "vo"\nreconstruction-type = "full"\n'


def cli(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def published(config_path: Path, name: str = "scan1_rec") -> dict:
    """The search record of the published reconstruction ``name``."""
    index = SearchIndex(load_config(config_path).local_state_dir / "search.db")
    try:
        [entry] = [e for e in index.search("*", limit=100) if e["subject"].endswith(f"/{name}")]
    finally:
        index.close()
    return entry["content"]["tomography"]


def campaign(config_path: Path, name: str, manifest: str, *options: str) -> str:
    path = config_path.parent / f"{name}.toml"
    path.write_text(manifest)
    state = ["--config", str(config_path)]
    cli("campaign", "create", name, *state, "--manifest", str(path), *options)
    cli("campaign", "run", name, *state, "--poll-interval", "0.05")
    with_runs = json.loads(cli("campaign", "status", name, *state, "--json"))
    return with_runs["jobs"][0]["run_id"]


@pytest.fixture(scope="module")
def chosen(tmp_path_factory) -> tuple[Path, float, str]:
    """The scientist's way: a try, then the full reconstruction at a centre chosen from it
    (experiment file: tomocupy's automatic search). Returns the experiment, the centre, the run."""
    root = tmp_path_factory.mktemp("chosen")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(root / "home"))
        path = tiny_experiment(root)
        path.write_text(path.read_text().replace("[recon]\n", AUTO, 1))
        truth = float(load_config(path).recon["rotation-axis"])
        tried = cli("run", "scan1.h5", "--config", str(path), "--try", "--center-search-width", "4")
        centre = truth + 1.25  # what the scientist saw best, not what the search finds
        full = cli("run", "scan1.h5", "--config", str(path), "--full", "--from-try", tried.split()[0],
                   "--center", str(centre))
        yield path, centre, full.split()[0]


def test_a_default_campaign_keeps_the_chosen_centre_and_records_the_replacement(chosen):
    path, centre, full_run = chosen
    before = published(path)
    assert before["reconstruction"]["rotation_axis"] == centre
    assert before["reconstruction"]["axis_decided"]["decided"] == "chosen"
    assert before["reconstruction"]["axis_decided"]["how"].startswith("chosen from try run ")

    run_id = campaign(path, "reproc", 'datasets = ["scan1.h5"]\n[params.default]\n')
    after = published(path)
    assert after["reconstruction"]["rotation_axis"] == centre, "the chosen centre stays published"
    decided = after["reconstruction"]["axis_decided"]
    assert decided["decided"] == "chosen" and decided["reused_from"] == full_run
    assert after["parameters"]["rotation-axis"] == centre
    assert after["parameters"]["rotation-axis-auto"] == "manual"
    [earlier] = after["history"][:1]
    assert earlier["run_id"] == full_run and earlier["superseded_by"] == run_id
    assert earlier["rotation_axis"] == centre and earlier["axis"]["decided"] == "chosen"
    # the reconstruction's own manifest says the same
    folder = path.parent / "facility/raw_rec/scan1_rec"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["run_id"] == run_id and manifest["axis"]["reused_from"] == full_run
    assert manifest["history"][0]["superseded_by"] == run_id

    # the campaign's report and the run's status say it (issue 27, finding 6)
    report = path.parent / "reproc.csv"
    table = cli("campaign", "report", "reproc", "--config", str(path), "--csv", str(report))
    assert "axis decided" in table and "chosen, kept" in table and run_id[:8] in table
    [row] = list(csv.DictReader(report.open()))
    assert row == {"scan": str(path.parent / "facility/raw/scan1.h5"), "parameter set": "default",
                   "status": "SUCCEEDED", "axis": f"{centre:.2f}",
                   "axis decided": f"chosen, kept from run {full_run}", "output folder": str(folder),
                   "quality": "ok", "run id": run_id, "reason": ""}
    status = cli("status", run_id, "--config", str(path), "--flow", "recon").splitlines()
    assert status[-5:] == [
        f"rotation axis: {centre:.2f} px, {describe(decided)}",
        f"reconstruction: {folder} (full)",
        "scan quality: ok",
        f"replaced: the reconstruction of run {full_run} (kept as history in the record)",
        f"published to: {path.parent / 'portal/published/cells/scan1_rec'} (in the search index)"]


def test_replacing_a_chosen_centre_takes_an_explicit_option_or_a_named_search(chosen):
    path, centre, _ = chosen
    campaign(path, "searched", 'datasets = ["scan1.h5"]\n[params.default]\nrotation-axis-auto = "auto"\n')
    searched = published(path)
    assert searched["reconstruction"]["axis_decided"]["decided"] == "automatic"
    assert searched["reconstruction"]["rotation_axis"] != centre
    assert searched["history"][0]["axis"]["decided"] == "chosen"  # what it replaced, kept

    # a person's axis again (a manifest's own axis for the scan: given), then replaced on purpose
    given = campaign(path, "given", f'datasets = ["scan1.h5"]\n[params.default]\n'
                                    f'[scans."scan1.h5"]\nrotation-axis = {centre}\n')
    record = published(path)
    assert record["reconstruction"]["axis_decided"]["decided"] == "given"
    assert record["reconstruction"]["axis_decided"]["how"] == "given in the campaign's job (automatic search off)"
    campaign(path, "forced", 'datasets = ["scan1.h5"]\n[params.default]\n', "--replace-decided-axes")
    forced = published(path)
    assert forced["reconstruction"]["axis_decided"]["decided"] == "automatic"
    assert forced["history"][0]["run_id"] == given and forced["history"][0]["rotation_axis"] == centre
    assert [h["axis"]["decided"] for h in forced["history"][:3]] == ["given", "automatic", "chosen"]


# --- the rules, one by one -----------------------------------------------------------------------

def test_how_each_way_of_asking_decides_the_axis(tmp_path):
    path = tiny_experiment(tmp_path)
    config = load_config(path)

    def decided(request: RunRequest) -> dict:
        return plan(config, request).body["input"]["tomocupy"]["axis"]

    assert decided(RunRequest("scan1.h5", ask=Ask.FULL)) == {
        "decided": "experiment", "how": "the experiment file's rotation-axis"}
    assert decided(RunRequest("scan1.h5", ask=Ask.FULL, origin=Origin.COMMAND_LINE,
                              overrides={"rotation-axis": 30.0})) == {
        "decided": "given", "how": "given on the command line (automatic search off)"}
    job = decided(RunRequest("scan1.h5", ask=Ask.FULL, origin=Origin.CAMPAIGN))
    assert job["keep_decided"] is True
    assert "keep_decided" not in decided(RunRequest("scan1.h5", ask=Ask.FULL, origin=Origin.CAMPAIGN,
                                                    overrides={"rotation-axis": 30.0}))
    assert "keep_decided" not in decided(RunRequest("scan1.h5", ask=Ask.FULL, origin=Origin.CAMPAIGN,
                                                    replace_decided=True))
    assert "keep_decided" not in decided(RunRequest("scan1.h5", ask=Ask.TRY, origin=Origin.CAMPAIGN))
    interactive = plan(config, RunRequest("scan1.h5", flow="interactive", ask=Ask.INTERACTIVE))
    assert interactive.body["input"]["tomocupy"]["axis"]["decided"] == "chosen"


def test_the_endpoint_keeps_only_a_persons_axis_of_a_full_reconstruction():
    earlier = {"run_id": "r1", "kind": "full", "rotation_axis": 31.5,
               "axis": {"decided": "chosen", "how": "chosen from try run t"}}
    keep = {"decided": "automatic", "how": "tomocupy's automatic search", "keep_decided": True}
    params = {"rotation-axis-auto": "auto"}
    assert keep_decided_axis(keep, params, "full", earlier) == {**earlier["axis"], "reused_from": "r1"}
    assert params == {"rotation-axis-auto": "manual", "rotation-axis": 31.5}
    for other in ({**earlier, "axis": {"decided": "automatic"}}, {**earlier, "kind": "try"}, None):
        params = {"rotation-axis-auto": "auto"}
        assert keep_decided_axis(keep, params, "full", other)["decided"] == "automatic"
        assert params == {"rotation-axis-auto": "auto"}
    assert keep_decided_axis({**keep, "keep_decided": False}, {}, "full", earlier)["decided"] == "automatic"
    assert keep_decided_axis(keep, {}, "try", earlier)["decided"] == "automatic"
    assert {d.value for d in AxisDecision if d.by_a_person} == {"chosen", "given", "suggested"}
    assert describe({**earlier["axis"], "reused_from": "r1"}) == (
        "chosen (chosen from try run t), kept from run r1 (the reconstruction this run replaced)")


def test_history_is_kept_newest_first_and_bounded():
    manifest = {"run_id": "r2", "kind": "full", "created": "2026-12-01T00:00:00+00:00",
                "command": ["tomocupy", "recon", "--rotation-axis", "30.5", "--rotation-axis-auto", "manual"],
                "history": [{"run_id": f"old{i}", "superseded_by": "x"} for i in range(30)]}
    history = superseded(manifest, "r3")
    assert history[0]["run_id"] == "r2" and history[0]["superseded_by"] == "r3"
    assert history[0]["rotation_axis"] == 30.5, "read from an older manifest's command line"
    assert [h["run_id"] for h in history[1:3]] == ["old0", "old1"] and len(history) == 20
    assert superseded(None, "r3") == []


def test_a_manifest_gives_a_scan_its_own_parameters_over_every_set(tmp_path):
    for name in ("a.h5", "b.h5", "c.h5"):
        (tmp_path / name).write_bytes(b"")
    manifest = tmp_path / "m.toml"
    manifest.write_text('datasets = ["*.h5"]\n[params.default]\n[params.vo]\nremove-stripe-method = "vo-all"\n'
                        '[scans."b.h5"]\nrotation-axis = 1021.5\n[scans."c*.h5"]\nbinning = 1\n')
    jobs = {(j.dataset, j.param_set): dict(j.params) for j in load_manifest(manifest, tmp_path).jobs}
    assert jobs[("b.h5", "default")] == {"rotation-axis": 1021.5}
    assert jobs[("b.h5", "vo")] == {"remove-stripe-method": "vo-all", "rotation-axis": 1021.5}
    assert jobs[("c.h5", "vo")] == {"binning": 1, "remove-stripe-method": "vo-all"}
    assert jobs[("a.h5", "default")] == {}
    manifest.write_text('datasets = ["*.h5"]\n[params.default]\n[scans."d.h5"]\nrotation-axis = 1.0\n')
    with pytest.raises(ManifestError, match=r"\[scans.'d.h5'\] names no dataset of the manifest"):
        load_manifest(manifest, tmp_path)
    manifest.write_text('datasets = ["*.h5"]\n[scans."a.h5"]\nrotation-axis = -7\n')
    with pytest.raises(ManifestError, match="scans.a.h5"):
        load_manifest(manifest, tmp_path)
