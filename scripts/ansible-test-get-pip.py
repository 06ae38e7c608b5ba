# Stand-in for ansible-test's get-pip bootstrap (its host is unreachable here):
# pip from ensurepip, then the requested pip from PyPI, trusting the system CAs.
import ensurepip
import os
import subprocess
import sys

ensurepip.bootstrap()
args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
cert = "/etc/ssl/certs/ca-certificates.crt"
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + (["--cert", cert] if os.path.exists(cert) else []) + args))
