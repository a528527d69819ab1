"""What a run and a study cost: the loop's counters across a resume, members' shares, the cost to reach a champion."""
import math

import pytest

import gan_core
from gan_core import checkpoint, cost

from conftest import TINY


def test_a_run_records_its_cost_and_keeps_counting_across_a_resume(tmp_path):
    config = {**TINY, "eval_samples": 200, "batch_size": 32, "max_steps": 4, "eval_every_steps": 2}
    first = gan_core.train("vanilla", config, out_dir=tmp_path)
    assert first["generator_steps"] == 4 and first["samples_seen"] == 4 * 32
    assert first["wall_seconds"] >= first["cpu_seconds"] / 64 > 0 and first["device_seconds"] == 0.0  # CPU only
    resumed = gan_core.train("vanilla", {**config, "max_steps": 6}, out_dir=tmp_path, resume=True)
    assert resumed["generator_steps"] == 6 and resumed["samples_seen"] == 6 * 32
    assert resumed["wall_seconds"] > first["wall_seconds"] and resumed["cpu_seconds"] > first["cpu_seconds"]


def test_members_share_an_interval_and_a_study_sums_its_trials():
    assert cost.share({"cpu_seconds": 3.0, "wall_seconds": 6.0}, 3) == {"cpu_seconds": 1.0, "wall_seconds": 2.0}
    assert cost.add({"cpu_seconds": 1.0}, {"cpu_seconds": 2.0, "wall_seconds": 1.0}) == {"cpu_seconds": 3.0,
                                                                                          "wall_seconds": 1.0}
    totals = cost.study_totals([{"cpu_seconds": 1.0, "generator_steps": 10}, {"cpu_seconds": 2.5}])
    assert totals["cpu_seconds"] == 3.5 and totals["generator_steps"] == 10 and totals["trials"] == 2
    assert cost.seconds_of({"step": 3}) == {"wall_seconds": 0.0, "cpu_seconds": 0.0, "device_seconds": 0.0}


def test_cost_to_reach_the_champion_counts_every_trials_epochs_until_it_first_led():
    # (time, trial, fid, epochs so far): a leads at first; c first beats everything at t=4
    reports = [(1, "a", 50.0, 1), (2, "b", 60.0, 1), (3, "c", 55.0, 1), (4, "c", 40.0, 2), (5, "a", 30.0, 2),
               (6, "c", 20.0, 3)]
    assert cost.to_reach(reports, "c") == {"epochs_to_champion": 4.0, "seconds_to_champion": 3}
    assert cost.to_reach(reports, "a") == {"epochs_to_champion": 1.0, "seconds_to_champion": 0}
    # a champion picked on another metric that never led: its last report counts
    assert cost.to_reach(reports, "b") == {"epochs_to_champion": 2.0, "seconds_to_champion": 1}
    # higher is better (recall)
    assert cost.to_reach([(1, "a", 0.2, 1), (2, "b", 0.5, 1)], "b", higher_is_better=True)["epochs_to_champion"] == 2
    assert math.isnan(cost.to_reach(reports, "zzz")["epochs_to_champion"])


def test_the_comparison_table_shows_cost_beside_quality():
    from gan_core.sweep.cli import comparison_table
    from gan_core.sweep.results import SweepResult

    rows = [{"trial_id": "a", "status": "completed", "fid_mnist": 20.0, "fid": 70.0, "recall": 0.3, "config": {}},
            {"trial_id": "b", "status": "pruned", "fid_mnist": 40.0, "config": {}}]
    result = SweepResult("san", "s", "fid_mnist", rows=rows, cost={
        "study/wall_seconds": 600.0, "study/cpu_seconds": 1100.0, "study/device_seconds": 0.0, "study/epochs": 9.5,
        "study/epochs_to_champion": 4.25})
    header, _, line = comparison_table([("san", result)]).splitlines()
    cells = dict(zip(header.split(" | "), line.split(" | ")))
    assert cells["fid"] == "70.000" and cells["best fid_mnist"] == "20.000"
    assert cells["cpu_s"] == "1100.000" and cells["epochs"] == "9.500" and cells["epochs to best"] == "4.250"


def test_a_standalone_populations_members_share_its_cost_and_count_their_own_steps(tmp_path):
    from gan_core.population import train_population

    config = {**TINY, "eval_samples": 200, "batch_size": 32, "max_steps": 4, "eval_every_steps": 2}
    seen = []
    keep = lambda members, state, samples: seen.append(([dict(m) for m in members], state["cost"]))
    train_population("vanilla", config, size=3, out_dir=tmp_path, on_report=keep)
    train_population("vanilla", {**config, "max_steps": 6}, size=3, out_dir=tmp_path, resume=True, on_report=keep)
    assert len(seen) == 3
    for members, process in seen:  # every report: the members' seconds add up to what the process spent
        for key in cost.SECONDS[:2]:
            assert math.fsum(m[key] for m in members) == pytest.approx(process[key], rel=1e-9)
            assert all(m[key] == pytest.approx(process[key] / 3, rel=1e-9) for m in members)  # all trained alike
        for m in members:
            assert m["generator_steps"] == m["member_step"] and m["samples_seen"] == m["member_step"] * 32
    assert seen[2][1]["cpu_seconds"] > seen[1][1]["cpu_seconds"]  # the resume went on from the saved shares
    saved = checkpoint.load(tmp_path / "member_001" / checkpoint.FILE)  # a member's folder holds its own share
    assert saved["cost"]["cpu_seconds"] == pytest.approx(seen[2][0][1]["cpu_seconds"])

