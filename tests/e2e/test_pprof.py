# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""pprof profiles (--pprof FILE, GET /debug/pprof/heap): read by an independent client, Go's
`go tool pprof`, never by memwatch's own code. The leaks workload's functions must hold exactly
the bytes they leaked (inuse_space), have allocated exactly that plus what they freed
(alloc_space), and the profile's mappings carry the files' GNU build-ids as `readelf -n`
prints them."""
import os
import re
import subprocess
import time

import mw
from mw import check, eq
from test_malloc import LEAKS


def go_pprof(*args, timeout=120):
    """go tool pprof ARGS -> stdout. HOME in a temp dir: pprof keeps fetched profiles there."""
    go = mw.need_tool("go")
    env = dict(os.environ, HOME=mw.tmpdir(), GOFLAGS="-mod=mod", GOTOOLCHAIN="local")
    r = subprocess.run([go, "tool", "pprof"] + list(args), capture_output=True, text=True,
                       timeout=timeout, env=env)
    check(r.returncode == 0, f"go tool pprof {' '.join(args)}: rc {r.returncode}: "
          f"{mw.tail(r.stderr)!r}")
    return r.stdout


def top_bytes(text):
    """`-top -unit=B` lines -> {function: flat bytes}."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^\s*(\d+)B\s+\S+%\s+\S+%\s+\S+\s+\S+%\s+(\S+)$", line)
        if m:
            out[m.group(2)] = int(m.group(1))
    return out


def check_leak_rows(text, what, extra=None):
    """Each leak_* function's flat bytes are its N*S (plus extra[name] when given)."""
    rows = top_bytes(text)
    for name, (n, size) in LEAKS.items():
        want = n * size + (extra or {}).get(name, 0)
        eq(rows.get(f"leak_{name}"), want, f"{what}: leak_{name} flat bytes")
    return rows


def build_id(path):
    r = subprocess.run(["readelf", "-n", path], capture_output=True, text=True, timeout=30)
    m = re.search(r"Build ID: ([0-9a-f]+)", r.stdout)
    check(m, f"readelf -n {path}: no build-id")
    return m.group(1)


def test_pprof_file():
    """--pprof FILE after a launched leaks run: inuse_space and alloc_space of each leak_*
    function are exactly its N*S bytes, the total is the malloc_summary's outstanding bytes,
    and the leaks executable's mapping has its build-id and its address range."""
    prof = mw.tmpfile("heap.pb.gz")
    out = mw.tmpfile("mw.json")
    rc, _, err = mw.run([mw.need_memwatch(), "--malloc", "--json", "-o", out, "--pprof", prof,
                         "--", mw.wl("leaks"), "-r", "50"], timeout=60)
    eq(rc, 0, f"memwatch exit status (stderr {mw.tail(err)!r})")
    tr = mw.read_ndjson(out)
    total = [e for e in tr.of("malloc_summary")][-1]["outstanding_bytes"]
    text = go_pprof("-top", "-unit=B", "-sample_index=inuse_space", prof)
    check_leak_rows(text, "inuse_space")
    m = re.search(r"accounting for (\d+)B, 100% of (\d+)B total", text)
    check(m, f"no total in {text[:300]!r}")
    eq(int(m.group(2)), total, "inuse_space total against malloc_summary outstanding_bytes")
    # leak_realloc's 12 malloc(100) were freed by their realloc: allocated, not in use.
    check_leak_rows(go_pprof("-top", "-unit=B", "-sample_index=alloc_space", prof),
                    "alloc_space", {"realloc": 12 * 100})
    raw = go_pprof("-raw", prof)
    maps = [ln for ln in raw.split("Mappings", 1)[-1].splitlines() if ln.strip()]
    exe = [ln for ln in maps if ln.split()[2:3] == [os.path.realpath(mw.wl("leaks"))]]
    check(exe, f"no mapping for the leaks executable: {maps}")
    eq(exe[0].split()[3], build_id(mw.wl("leaks")), "build-id of the leaks mapping")
    rng = re.match(r"^\d+: (0x[0-9a-f]+)/(0x[0-9a-f]+)/", exe[0].strip())
    check(rng and int(rng.group(2), 16) > int(rng.group(1), 16) > 0,
          f"the leaks mapping has no address range: {exe[0]!r}")



def http_get(url, timeout=10.0):
    r = subprocess.run([mw.need_tool("curl"), "-s", "-m", str(timeout), "-o", "-", "-w",
                        "\n%{http_code}", url], capture_output=True, timeout=timeout + 5)
    body, _, code = r.stdout.rpartition(b"\n")
    return int(code or 0), body


def test_pprof_live_url():
    """GET /debug/pprof/heap on the --prometheus endpoint of memwatch -p on a running leaks:
    go tool pprof on the URL shows each leak_* function with exactly its bytes while the process
    still runs, at the path tools/fleet/parca.yaml scrapes; /debug/pprof/mapped says in one line that this run collects no such stacks."""
    w = mw.workload("leaks", "-w", "-t", "4000")
    port = mw.free_port()
    # Every call traced (-p gets an overhead budget by default): the bytes are compared exactly.
    m = mw.attach([w.pid], "--malloc", "--max-overhead", "0", "-c", "--prometheus",
                  f"127.0.0.1:{port}", out=os.devnull)
    w.send()
    time.sleep(1.0)  # the leaks come first, then the churn
    check(w.alive(), "leaks ended before the profile was fetched")
    # The path Parca is told to scrape (tools/fleet/parca.yaml) is the one served.
    import yaml
    with open(os.path.join(mw.ROOT, "tools", "fleet", "parca.yaml")) as f:
        job = yaml.safe_load(f)["scrape_configs"][0]
    path = job["profiling_config"]["pprof_config"]["memory"]["path"]
    text = go_pprof("-top", "-unit=B", "-sample_index=inuse_space",
                    f"http://127.0.0.1:{port}{path}")
    check_leak_rows(text, "live inuse_space")
    code, body = http_get(f"http://127.0.0.1:{port}/debug/pprof/mapped")
    eq(code, 404, "/debug/pprof/mapped status")
    check(body.startswith(b"memwatch: no mapped profile"), f"/debug/pprof/mapped: {body!r}")
    code, body = http_get(f"http://127.0.0.1:{port}/debug/pprof/nothing")
    eq(code, 404, "/debug/pprof/nothing status")
    eq(mw.interrupt(m), 0, f"memwatch exit status (stderr {mw.tail(m.text('err'))!r})")


def test_pprof_unwritable():
    """--pprof into a directory that does not exist: one line naming it, exit 1, the command
    never started."""
    marker = mw.tmpfile("ran")
    rc, _, err = mw.run([mw.need_memwatch(), "--malloc", "--pprof", "/nonexistent/heap.pb.gz",
                         "--", "touch", marker])
    eq(rc, 1, "exit status")
    check("/nonexistent/heap.pb.gz" in mw.one_error_line(err, "--pprof"), f"stderr {err!r}")
    check(not os.path.exists(marker), "the command ran")
