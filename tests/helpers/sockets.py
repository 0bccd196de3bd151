"""What the kernel says about the bot's sockets."""

from __future__ import annotations

import subprocess


def listen_backlog(port: int) -> int:
    """The backlog the kernel keeps for the socket listening on `port` (`ss`'s Send-Q for a listening socket)."""
    lines = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True,
                           timeout=10).stdout.split("\n")
    backlogs = {int(line.split()[2]) for line in lines if line.strip()}
    assert len(backlogs) == 1, lines
    return backlogs.pop()


def kernel_backlog(asked: int) -> int:
    """What the kernel grants a listen(`asked`): at most net.core.somaxconn."""
    with open("/proc/sys/net/core/somaxconn") as limit:
        return min(asked, int(limit.read()))
