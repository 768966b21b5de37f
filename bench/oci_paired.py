#!/usr/bin/env python3
"""oci_paired.py BUNDLE ROUNDS RUNTIME_A RUNTIME_B: paired timings of two OCI
runtimes on one bundle, alternating A B A B so that both see the same load.

Two ways to run a container of `true`, each ROUNDS times per runtime after
one warm-up: `run` (create, start, wait and delete in one command), and
create, start, wait and delete as four commands, the way containerd's shim
and conmon drive a runtime (the wait is on the state's pid, as the shim's:
this process is a child subreaper). Prints a markdown table: median wall
time and median CPU time (user+sys of the runtime's processes and their
children, and of those that outlived their parents, reaped here as the
subreaper: a stand-in, a sentry) per container, and the median of the
pairwise A/B ratios.
A RUNTIME is NAME=COMMAND LINE (or a command line, named by its binary);
each gets its own --root under /tmp."""
import ctypes, json, os, resource, shutil, statistics, subprocess, sys, tempfile, time

PR_SET_CHILD_SUBREAPER = 36
ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
bundle, rounds = sys.argv[1], int(sys.argv[2])
name, runtimes = {}, []
for arg in sys.argv[3:5]:
    label, eq, cmd = arg.partition("=")
    rt = cmd if eq else arg
    name[rt] = label if eq else os.path.basename(rt.split()[0])
    runtimes.append(rt)
roots = {rt: tempfile.mkdtemp(prefix="oci-paired-") for rt in runtimes}


def cpu_ms():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (r.ru_utime + r.ru_stime) * 1000


def sh(argv):
    subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)


def once(rt, cid, separate):
    base = rt.split() + ["--root", roots[rt]]
    c0, t0 = cpu_ms(), time.perf_counter()
    if not separate:
        sh(base + ["run", "--bundle", bundle, cid])
    else:
        sh(base + ["create", "--bundle", bundle, cid])
        pid = json.loads(subprocess.run(base + ["state", cid], capture_output=True, check=True).stdout)["pid"]
        sh(base + ["start", cid])
        while True:
            try:
                if os.waitpid(-1, 0)[0] == pid:
                    break
            except ChildProcessError:
                break
        sh(base + ["delete", cid])
    wall = (time.perf_counter() - t0) * 1000
    reap()
    return wall, cpu_ms() - c0


def reap():
    """Reaps the runtime's processes that outlived their parents (a
    stand-in, a sentry whose CLI did not wait for it), whose CPU time
    would otherwise not be counted."""
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return


print("| %d containers of `true`, alternating | %s wall | %s CPU | %s wall | %s CPU | %s/%s wall, CPU (pairwise) |" % (
    rounds, name[runtimes[0]], name[runtimes[0]], name[runtimes[1]], name[runtimes[1]], name[runtimes[0]], name[runtimes[1]]))
print("|---|---:|---:|---:|---:|---:|")
for separate, label in ((False, "`run`"), (True, "`create`, `start`, wait, `delete`")):
    res = {rt: [] for rt in runtimes}
    for rt in runtimes:
        once(rt, "warm%d" % separate, separate)
    for i in range(rounds):
        for rt in runtimes:
            res[rt].append(once(rt, "c%d_%d" % (separate, i), separate))
    a, b = res[runtimes[0]], res[runtimes[1]]
    med = lambda xs, k: statistics.median(x[k] for x in xs)
    print("| %s | %.1f ms | %.1f ms | %.1f ms | %.1f ms | %.2fx, %.2fx |" % (
        label, med(a, 0), med(a, 1), med(b, 0), med(b, 1),
        statistics.median(x[0] / y[0] for x, y in zip(a, b)), statistics.median(x[1] / y[1] for x, y in zip(a, b))))
for r in roots.values():
    shutil.rmtree(r, ignore_errors=True)
