"""A backend killed with SIGKILL costs clients nothing and comes back by
itself; the app server unit's sandbox and nginx's exposure, with figures."""

import re
import time

from lbcheck import count_backends, lb_verify, status


def main_pid(host, unit):
    return int(host.check_output("systemctl show -p MainPID --value %s" % unit))


def test_killed_backend_costs_no_request_and_comes_back(host, figure):
    unit = "app-server@7002"
    killed = main_pid(host, unit)
    host.run_expect([0], "kill -9 %d" % killed)
    started = time.monotonic()
    counts = count_backends(host, "/roundrobin", 60)
    assert not [key for key in counts if not key.isdigit()], counts
    assert sum(counts.values()) == 60
    # systemd restarts it (Restart=on-failure, RestartSec=1).
    while time.monotonic() - started < 20:
        pid = main_pid(host, unit)
        if pid not in (0, killed) and host.run("systemctl is-active %s" % unit).stdout.strip() == "active":
            break
        time.sleep(0.2)
    back_after = time.monotonic() - started
    assert main_pid(host, unit) not in (0, killed)
    # nginx keeps a failed peer out for fail_timeout (10 s); lb_verify sees it back after that.
    deadline, result = time.monotonic() + 30, None
    while time.monotonic() < deadline:
        result = lb_verify(host, {"locations": [{"path": "/roundrobin"}], "requests": 60})
        if result["passed"]:
            break
        time.sleep(2)
    seen_again = time.monotonic() - started
    figure("killed app server restarted by systemd after s", round(back_after, 1))
    figure("lb_verify exact again after s", round(seen_again, 1))
    assert back_after < 10
    assert result["passed"] is True, result.get("msg")


def test_app_server_sandbox_exposure(host, figure):
    out = host.check_output("systemd-analyze security app-server@7001.service 2>&1 | tail -1")
    score = float(re.search(r"exposure level .*?: ([\d.]+)", out).group(1))
    figure("systemd-analyze security app-server@7001 exposure", score)
    assert score <= 1.5, out


def test_app_server_unit_has_ceilings_and_an_ip_allow_list(host):
    unit = "app-server@7001"
    shown = dict(line.split("=", 1) for line in host.check_output(
        "systemctl show -p LimitNOFILE -p MemoryMax -p TasksMax -p IPAddressAllow -p IPAddressDeny %s" % unit
    ).splitlines())
    assert shown["LimitNOFILE"] == "65536"
    assert shown["MemoryMax"] == str(128 * 1024 * 1024)
    assert shown["TasksMax"] == "32"
    assert set(shown["IPAddressDeny"].split()) == {"0.0.0.0/0", "::/0"}, shown
    assert {"127.0.0.0/8", "::1/128"} <= set(shown["IPAddressAllow"].split()), shown
    limits = host.check_output("cat /proc/%d/limits" % main_pid(host, unit))
    # LimitNOFILE=65536, capped by what the container may have at all (the
    # Docker engine's default hard limit is lower than that on some machines).
    ceiling = int(re.search(r"^Max open files\s+\d+\s+(\d+)", host.check_output("cat /proc/1/limits"), re.M).group(1))
    expected = min(65536, ceiling)
    assert re.search(r"^Max open files\s+%d\s+%d" % (expected, expected), limits, re.M), limits


def test_app_server_gets_each_setting_as_one_argument(host):
    # ${VAR} in ExecStart: one argument per setting, whatever the settings file holds.
    argv = host.check_output("tr '\\0' '\\n' < /proc/%d/cmdline" % main_pid(host, "app-server@7001")).splitlines()
    # launch.py exec'd the release's command (no shell, no launcher left in between).
    assert argv[1] == "/opt/edgeops/releases/1/app_server.py", argv
    assert argv[2:6] == ["--port=7001", "--bind=127.0.0.1", "--app-version=1", "--health-path=/healthz"], argv
    assert [arg.split("=")[0] for arg in argv[6:]] == [
        "--latency-ms", "--access-log", "--header-timeout", "--idle-timeout", "--max-body", "--mode"], argv


def test_app_server_has_no_write_access_outside_its_state(host):
    pid = main_pid(host, "app-server@7001")
    assert host.check_output("ps -o user= -p %d" % pid) == "app-server"
    # ProtectSystem=strict: the whole file system is read-only for the unit.
    mounts = host.check_output("cat /proc/%d/mountinfo" % pid)
    root = next(line for line in mounts.splitlines() if line.split()[4] == "/")
    assert " ro," in root or root.split()[5].startswith("ro"), root


def test_nginx_discloses_no_version_and_no_upstream_address(host):
    headers = host.check_output(
        "python3 -c \"import http.client as h; c=h.HTTPConnection('127.0.0.1',80,timeout=5); "
        "c.request('GET','/roundrobin'); r=c.getresponse(); print(dict(r.getheaders()))\"")
    assert "'Server': 'nginx'" in headers, headers
    assert "X-Upstream-Addr" not in headers


def test_reflected_host_header_is_escaped_through_the_balancer(host):
    page = host.check_output(
        "python3 -c \"import http.client as h; c=h.HTTPConnection('127.0.0.1',80,timeout=5); "
        "c.request('GET','/roundrobin', headers={'Host': 'x\\\"><script>alert(1)<'}); "
        "print(c.getresponse().read().decode())\"")
    # nginx refuses a Host with '/' or a space (400), so the payload has neither.
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;" in page, page


def test_unknown_paths_are_404(host):
    assert status(host, "/roundrobinX") == 404
