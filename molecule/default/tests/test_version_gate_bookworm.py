"""Debian 12's nginx 1.22 lacks sticky sessions (nginx >= 1.29.6): site.yml
with a sticky upstream stops with the error naming the field and the two
versions, before anything on the converged host changes."""

from lbcheck import default_upstreams, recap, run_playbook

testinfra_hosts = ["edgeops-molecule-bookworm"]

WATCHED = "/etc/nginx/conf.d/upstream.conf /var/lib/edgeops_nginx_lb/model_record.json /etc/nginx/nginx.conf"


def test_sticky_on_nginx_1_22_is_a_named_error_before_any_change(host):
    before = host.check_output("sha256sum %s" % WATCHED)
    upstreams = default_upstreams() + [{"name": "sticky", "sticky": {"cookie": "edgeops_srv"},
                                        "servers": [{"address": "127.0.0.1:7001"}, {"address": "127.0.0.1:7002"}]}]
    run = run_playbook("playbooks/site.yml", {"load_balancer_upstreams": upstreams},
                       limit=host.backend.get_hostname())
    assert run.returncode != 0, run.stdout[-3000:]
    assert ("load_balancer_upstreams[5].sticky: needs nginx >= 1.29.6 (sticky cookie sessions), "
            "this host has 1.22.1") in run.stdout, run.stdout[-3000:]
    assert recap(run)[host.backend.get_hostname()]["changed"] == 0, run.stdout[-3000:]
    assert host.check_output("sha256sum %s" % WATCHED) == before
