"""The functional tier: everything that starts a process or opens a socket on
this machine, on loopback only (a private nginx, the app server, lb_verify
against loopback servers, ansible-playbook on localhost, the fuzz test's
nginx -t). Containers are tests/integration's. The `figure` fixture records
measured figures, printed at the end of the run."""

from helpers.figures import figure, pytest_terminal_summary  # noqa: F401 pylint: disable=unused-import
