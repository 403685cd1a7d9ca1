"""The loopback-only namespace that wraps playbook runs which name real addresses."""

import subprocess
import sys

import loopback_netns

PROBE = """
import errno, socket, sys
def attempt(host, port):
    s = socket.socket(); s.settimeout(2)
    try:
        s.connect((host, port)); return "connected"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e))
    finally:
        s.close()
server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen()
print(attempt("127.0.0.1", server.getsockname()[1]))
for host in sys.argv[1:]:
    print(attempt(host, 443))
"""


def test_only_loopback_is_reachable_inside():
    loopback_netns.require()
    # A service address k3s hands out, the sample inventory's first host, a public address.
    targets = ["10.43.0.1", "192.168.56.10", "1.1.1.1"]
    out = subprocess.run(
        loopback_netns.isolated([sys.executable, "-c", PROBE, *targets]),
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.split()
    assert out == ["connected", "ENETUNREACH", "ENETUNREACH", "ENETUNREACH"]
