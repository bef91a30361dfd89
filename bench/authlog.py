#!/usr/bin/env python3
"""A realistic auth.log for the forwarder benchmarks: sshd, sudo, su, PAM,
cron and logind lines, as Debian writes them.

  bench/authlog.py PATH SIZE_MIB
"""
import random, sys

path, mib = sys.argv[1], int(sys.argv[2])
random.seed(7)
users = [f"user{i}" for i in range(500)]
tmpl = [
  "{t} bastion sshd[{p}]: Accepted publickey for {u} from 192.0.2.{n} port {port} ssh2: ED25519 SHA256:Zx1kq0w9dGvOq1oJ3m2yTtY4W1mA0bC7uVf8xQe2rS4",
  "{t} bastion sshd[{p}]: Failed password for invalid user {u} from 198.51.100.{n} port {port} ssh2",
  "{t} bastion sshd[{p}]: pam_unix(sshd:session): session opened for user {u}(uid=1{n}) by (uid=0)",
  "{t} bastion sudo:    {u} : TTY=pts/{n} ; PWD=/home/{u} ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx",
  "{t} bastion CRON[{p}]: pam_unix(cron:session): session closed for user root",
  "{t} bastion systemd-logind[612]: New session {p} of user {u}.",
]
target = mib << 20
out = open(path, "w", buffering=1 << 20)
written = 0
i = 0
while written < target:
    s = i // 50
    t = f"Dec  2 {(s // 3600) % 24:02d}:{(s // 60) % 60:02d}:{s % 60:02d}"
    line = random.choice(tmpl).format(t=t, p=1000 + i % 60000, u=random.choice(users), n=i % 250, port=30000 + i % 30000) + "\n"
    out.write(line)
    written += len(line)
    i += 1
out.close()
print(f"generated {written / 2**20:.0f} MiB, {i} lines", file=sys.stderr)
