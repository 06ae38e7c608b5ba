# The state of a host that a dry run must leave alone: every file of the root
# file system with its type, mode, owner, size and mtime (directories without
# their mtime), /etc also by content, the installed packages and the systemd
# units with their states. Left out: what the kernel, systemd and Ansible's
# own connection keep (/proc, /sys, /dev, /run, /tmp, /root/.ansible) and the
# journal. Runs with bash on the host; prints the fingerprint on stdout.
set -euo pipefail
echo "## files"
find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp \
                -o -path /root/.ansible -o -path /var/log/journal \) -prune \
     -o -type d -printf '%y %m %u %g %p\n' \
     -o -printf '%y %m %u %g %s %T@ %p\n' | LC_ALL=C sort
echo "## /etc by content"
find /etc -xdev -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
echo "## packages"
dpkg-query --show --showformat '${Package} ${Version} ${db:Status-Abbrev}\n'
echo "## units"
systemctl list-units --all --no-legend --plain --no-pager | LC_ALL=C sort
systemctl list-unit-files --no-legend --no-pager | LC_ALL=C sort
