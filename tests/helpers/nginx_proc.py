"""A private nginx for a test: started on its configuration, waited for on
its ports, stopped by its PID (SIGQUIT, then SIGKILL after 10 s)."""

import contextlib
import signal
import subprocess

from helpers.localnet import NGINX, wait_for_port


@contextlib.contextmanager
def running_nginx(conf, prefix, ports):
    """nginx -c `conf` -p `prefix` in the foreground until the block ends;
    AssertionError with its error log when a port does not listen."""
    proc = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(prefix), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not all(wait_for_port(port) for port in ports):
            log = prefix / "error.log"
            raise AssertionError(log.read_text() if log.exists() else "nginx did not listen on %s" % (ports,))
        yield proc
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
