"""benchmarks/ssh_rerun.py's pure parts: the medians, the share the modules
save and the per-task table it writes (without a container)."""

import importlib.util

import pytest

from helpers.paths import ROOT

_SPEC = importlib.util.spec_from_file_location("ssh_rerun", ROOT / "benchmarks" / "ssh_rerun.py")
ssh_rerun = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(ssh_rerun)


def task(name, action, seconds):
    return {"name": "edgeops.nginx_lb.app_servers : " + name, "action": action, "seconds": seconds}


def variant(walls, host_seconds):
    runs = [{"wall_s": wall, "file_and_info_s": seconds} for wall, seconds in zip(walls, host_seconds)]
    return dict(ssh_rerun.summary(runs),
                tasks=[[task("Install the release", "edgeops.nginx_lb.host_files", seconds)] for seconds in host_seconds])


@pytest.mark.parametrize("modules, builtin, ratio, share", [
    ([20.0, 30.0, 25.0], [50.0, 40.0, 45.0], 1.8, 0.444),
    ([10.0], [10.0], 1.0, 0.0),
])
def test_the_share_saved_is_of_the_builtin_rerun(tmp_path, monkeypatch, modules, builtin, ratio, share):
    monkeypatch.setattr(ssh_rerun, "RESULTS", tmp_path)
    result = {"rounds": len(modules), "variants": {"modules": variant(modules, [1.0] * len(modules)),
                                                   "builtin": variant(builtin, [9.0] * len(builtin))}}
    ssh_rerun.report(result)
    assert result["rerun_ratio_builtin_over_modules"] == ratio
    assert result["saved_share_of_builtin_rerun"] == share
    table = (tmp_path / "ssh_rerun.md").read_text()
    assert "| Install the release | host_files | 1.00 | 9.00 |" in table
    assert "**%.2f x**" % ratio in table


def test_only_the_two_modules_count_per_task():
    result = {"variants": {"modules": {"tasks": [[task("Ask", "edgeops.nginx_lb.host_info", 2.0),
                                                  task("Sort", "ansible.builtin.set_fact", 5.0)]]},
                           "builtin": {"tasks": [[task("Ask", "edgeops.nginx_lb.host_info", 8.0)]]}}}
    assert ssh_rerun.per_task(result) == [("Ask", "edgeops.nginx_lb.host_info", {"modules": 2.0, "builtin": 8.0})]
