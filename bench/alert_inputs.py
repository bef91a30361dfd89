"""The alert benchmarks' inputs, shared by bench/alerts.py (the server) and
bench/engine_rate.py (the engine alone): the event mix and the rules."""
import random

def event(k):
    # 2,000 users, each mostly from its own address (1 login in 100 from a
    # random one), 3 % of logins failing: the rules see realistic traffic
    # and fire now and then, not on every event.
    r = random.random()
    u = random.randint(1, 2000)
    who = f"user{u}"
    ip = f"198.51.{u % 200}.{u % 250}" if random.random() < 0.99 else f"203.0.113.{random.randint(1, 250)}"
    if r < 0.5:
        return {"action": "auth.login", "outcome": "failure" if random.random() < 0.03 else "success",
                "actor": {"id": who, "ip": ip}, "source": {"host": f"web-{k % 20}", "app": "sshd"}}
    if r < 0.7:
        return {"action": "privilege.sudo", "outcome": "success", "actor": {"id": who}, "target": {"type": "command", "id": "/usr/bin/id"},
                "source": {"host": f"web-{k % 20}", "app": "sudo"}}
    if r < 0.85:
        return {"action": "file.modify", "actor": {"id": who}, "target": {"type": "file", "id": f"/srv/app/{k % 500}.conf"},
                "source": {"host": f"db-{k % 5}"}}
    return {"action": "api.call", "outcome": "success", "actor": {"id": who, "ip": ip}, "message": f"GET /v1/items/{k}"}


def rules_file(path, n, hook, distinct=False):
    """n rules: seven kinds in turn, each kind's copies with different
    thresholds, so that sequence, new_value and absence copies share one
    state in the engine. distinct=True makes every copy's state its own (a
    sequence's time limit, a memory's size, an absence's extra filter
    differ by a little): the engine's worst case for the same traffic."""
    kinds = []
    for i in range(n):
        m = i % 7
        if m == 0:
            kinds.append(f'[[rule]]\nname = "thr-{i}"\nkind = "threshold"\nmatch = {{ action = "auth.login", outcome = "failure" }}\ngroup_by = ["actor.ip"]\ncount = {20 + i}\nwindow = "60s"\n')
        elif m == 1:
            kinds.append(f'[[rule]]\nname = "spray-{i}"\nkind = "threshold"\nmatch = {{ action = "auth.login", outcome = "failure" }}\ngroup_by = ["actor.ip"]\ndistinct = "actor.id"\ncount = {10 + i}\nwindow = "10m"\n')
        elif m == 2:
            within = f"{600 + i}s" if distinct else "10m"
            kinds.append(f'[[rule]]\nname = "seq-{i}"\nkind = "sequence"\ngroup_by = ["actor.id"]\nwithin = "{within}"\nsteps = [{{ match = {{ action = "auth.login", outcome = "failure" }}, count = 3 }}, {{ match = {{ action = "auth.login", outcome = "success" }} }}]\n')
        elif m == 3:
            kinds.append(f'[[rule]]\nname = "newip-{i}"\nkind = "new_value"\nmatch = {{ action = "auth.login", outcome = "success" }}\ngroup_by = ["actor.id"]\nfield = "actor.ip"\nmemory = {100000 + i if distinct else 100000}\n')
        elif m == 4:
            kinds.append(f'[[rule]]\nname = "offhours-{i}"\nkind = "match"\nmatch = {{ action = "privilege.*" }}\noutside = {{ hours = "00:00-23:59" }}\ngroup_by = ["actor.id"]\n')
        elif m == 5:
            extra = f'except = {{ action = "none-{i}" }}\n' if distinct else ""
            kinds.append(f'[[rule]]\nname = "silent-{i}"\nkind = "absence"\n{extra}group_by = ["source.host"]\nafter = "30m"\n')
        else:
            kinds.append(f'[[rule]]\nname = "file-{i}"\nkind = "match"\nmatch = {{ action = "file.*", "target.id" = "/etc/*" }}\ngroup_by = ["target.id"]\n')
    probe = f'[[rule]]\nname = "probe"\nkind = "match"\nmatch = {{ action = "bench.probe" }}\ngroup_by = ["actor.id"]\ncooldown = "0s"\nactions = ["webhook:bench"]\n'
    with open(path, "w") as f:
        f.write(f'[webhooks.bench]\nurl = "{hook}"\nsecret = "x"\nmax_attempts = 3\n\n' + probe + "\n".join(kinds[: n - 1]))
