# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Noise and drift: idle threads folded into one table line, "events lost" and "attached" said at
most once a second with the count of the rest, and every NDJSON key of real sessions, with its
type, as the manual's table says (so the manual and the output cannot drift apart)."""
import json
import os
import re
import signal
import subprocess
import time

import mw
from mw import check, eq

MANUAL = os.path.join(mw.ROOT, "user", "memwatch.8.scd")


def test_text_table_folds_idle_threads():
    """-p on `idlers` (1000 threads blocked on a pipe; only main makes two calls, after the
    attach): the calls table has main's row and one line '(1000 threads with no memory calls)',
    not 1001 rows."""
    w = mw.workload("idlers", "-n", "1000", ready=True)
    out = mw.tmpfile("mw.txt")
    m = mw.attach([w.pid], "-c", out=out)
    w.send()
    w.wait_line(r"^done \d+$")
    eq(mw.interrupt(m, signal.SIGINT), 0, "memwatch exit status after SIGINT")
    with open(out) as f:
        text = f.read()
    head = re.search(r"^--- pid \d+ \(idlers\): (\d+) threads", text, re.M)
    check(head, f"no summary header: {mw.tail(text)!r}")
    eq(int(head.group(1)), 1001, "threads in the header")
    table = re.split(r"TID COMM\s+MAPPED", text[head.end():])[0]
    rows = [ln for ln in table.splitlines()[2:] if ln.strip()]
    eq(rows[-1].strip(), "(1000 threads with no memory calls)", "the folded line")
    eq(len(rows), 2, f"rows of the calls table (main and the folded line): {rows[:5]}")
    check(re.match(rf"^\s*{w.pid} idlers\s+0\s+1\s+1\s", rows[0]), f"main's row: {rows[0]!r}")


def test_lost_notices_once_a_second():
    """A 4 KiB ring under a busy spinner for about 2 s drops thousands of records: the text
    trace says so at most once a second (not once per poll), and the counts of the notices add
    up to the kernel's count of lost records (-v's last line)."""
    w = mw.workload("spinner", "-w", "-t", "2", "-n", "300000")
    out = mw.tmpfile("mw.txt")
    m = mw.attach([w.pid], "-v", "--ring-size", "4096", out=out)
    t0 = time.monotonic()
    w.send()
    eq(w.wait(120, "spinner"), 0, "spinner exit status")
    eq(mw.finish(m, 30), 0, f"memwatch exit status (stderr {mw.tail(m.text('err'))!r})")
    secs = time.monotonic() - t0
    with open(out, errors="replace") as f:
        notices = re.findall(r"!!! (\d+) events lost", f.read())
    kernel = re.search(r"kernel: \d+ records, (\d+) lost", m.text("err"))
    check(kernel and int(kernel.group(1)) > 1000, f"-v kernel line: {mw.tail(m.text('err'))!r}")
    eq(sum(int(n) for n in notices), int(kernel.group(1)), "records lost, notices vs kernel")
    check(len(notices) <= secs + 2, f"{len(notices)} 'events lost' lines in {secs:.1f} s")


def test_daemon_logs_attached_once_a_second():
    """Daemon mode logs 'pid N (name) attached' as the manual says (it did not at all): the
    first at once, then a burst of 12 processes adopted within a second makes at most two more
    lines, one of them counting the rest ('(N more)'); the last held back is said at the end."""
    name = "mw-att-%d" % (os.getpid() % 100000)
    path = os.path.join(mw.tmpdir(), name)
    os.symlink(mw.wl("exiter"), path)
    first = mw.Proc([path, "-w"], stdin=subprocess.PIPE, name=name)
    first.wait_line(r"^ready \d+$")
    p = mw.memwatch("daemon", "--comm", f"^{name}$", "-c")
    mw.wait_tracing(p)
    p.wait_line(rf"^memwatch: pid {first.pid} \({name}\) attached$")
    burst = [mw.Proc([path, "-n", "30", "-s", "20000"], name=name) for _ in range(12)]
    for b in burst:
        b.wait(30)
    time.sleep(1.5)
    eq(mw.interrupt(p, signal.SIGTERM, timeout=20), 0, "daemon exit status")
    lines = [ln for ln in p.text("err").splitlines() if " attached" in ln]
    check(2 <= len(lines) <= 4, f"attached lines: {lines}")
    more = sum(int(x) for x in re.findall(r"\((\d+) more\)", " ".join(lines)))
    eq(len(lines) + more, 13, f"processes said attached, shown and counted: {lines}")


# ---------------------------------------------------------------- the NDJSON schema

def manual_schema():
    """The manual's 'Keys and types' table: {path: {key: {types}}}."""
    with open(MANUAL) as f:
        text = f.read()
    sec = text.split("## Keys and types", 1)[1]
    block = sec.split("```", 2)[1]
    schema = {}
    for line in block.strip().splitlines():
        words = line.split()
        keys = schema.setdefault(words[0], {})
        for kv in words[1:]:
            k, t = kv.split(":")
            keys[k] = set(t.split("|"))
    return schema


def json_type(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "num"
    if isinstance(v, str):
        return "addr" if re.fullmatch(r"0x[0-9a-f]+", v) else "str"
    if isinstance(v, dict):
        return "obj"
    if isinstance(v, list):
        return "arr"
    return type(v).__name__


def check_object(schema, path, obj, common, problems):
    spec = schema.get(path)
    if spec is None:
        problems.add(f"{path}: not in the manual's table")
        return
    for k, v in obj.items():
        want = spec.get(k) or common.get(k)
        got = json_type(v)
        if want is None:
            problems.add(f"{path}.{k}: not in the manual's table")
        elif got not in want and not (got == "addr" and "str" in want) \
                and not (got == "int" and "num" in want):
            problems.add(f"{path}.{k}: {got}, the manual says {'|'.join(sorted(want))}")
        elif got == "obj":
            check_object(schema, f"{path}.{k}", v, {}, problems)
        elif got == "arr":
            for e in v:
                check_object(schema, f"{path}.{k}[]", e, {}, problems)


def _sessions():
    """Representative runs: (what, [objects])."""
    runs = []

    def launch(what, *args, timeout=60):
        rc, tr, err = mw.launch_json(*args, timeout=timeout)
        check(rc in (0, 3), f"{what}: exit status {rc} (stderr {mw.tail(err)!r})")
        runs.append((what, tr.events))

    launch("ops -T --maps-at-exit", "-T", "--maps-at-exit", "--", mw.wl("ops"))
    launch("arenas -s", "--", mw.wl("arenas"), "-t", "3", "-s", "-b", "300000")
    launch("-f spawner", "-f", "--", mw.wl("spawner"), "3")
    launch("usdt_arena", "--", mw.wl("usdt_arena"), "-n", "2")
    launch("sysv", "--", mw.wl("sysv"))
    launch("--malloc pinned_top", "--malloc", "--", mw.wl("pinned_top"))
    launch("--malloc leaks", "--malloc", "--max-probe-rate", "2000", "--", mw.wl("leaks"),
           "-t", "1500", timeout=120)
    launch("small ring", "--ring-size", "4096", "--", mw.wl("spinner"), "-t", "2", "-n",
           "20000")
    # daemon: stats objects
    w = mw.workload("exiter", "-s", "2000", ready=False)
    out = mw.tmpfile("d.json")
    d = mw.memwatch("daemon", "-c", "-i", "0.3", "-p", w.pid, "-o", out)
    mw.wait_tracing(d)
    time.sleep(1)
    eq(mw.interrupt(d, signal.SIGTERM, timeout=20), 0, "daemon exit status")
    runs.append(("daemon", mw.read_ndjson(out).events))
    rc, text, err = mw.run([mw.MEMWATCH, "maps", "-p", str(w.pid), "--json"])
    eq(rc, 0, f"memwatch maps exit status (stderr {mw.tail(err)!r})")
    runs.append(("maps --json", mw.parse_ndjson(text)))
    return runs


def test_ndjson_keys_and_types_match_manual():
    """Representative sessions (the strace-like trace with -T and --maps-at-exit, arenas that
    trim, forks and execs, glibc's probes, SysV shm and pkey_mprotect, --malloc with leaks,
    retention and the rate guard, a small ring, a daemon's stats, memwatch maps --json): every
    object has type and ts_ns, and every key (nested ones too) is in the manual's 'Keys and
    types' table with the type it has there."""
    schema = manual_schema()
    common = schema["(every)"]
    problems, seen = set(), set()
    for what, objs in _sessions():
        for o in objs:
            t = o.get("type")
            seen.add(t)
            if not isinstance(o.get("ts_ns"), int):
                problems.add(f"{t} ({what}): no ts_ns")
            check_object(schema, t, {k: v for k, v in o.items() if k != "type"}, common,
                         problems)
    check(not problems, f"{len(problems)} keys differ from the manual: {sorted(problems)[:12]}")
    want = {"syscall", "thread_new", "fork", "exec", "exit", "rename", "usdt", "lost",
            "thread_summary", "process_summary", "arena_summary", "diagnosis", "region",
            "stats", "arena_create", "arena_grow", "arena_shrink", "thread_stack",
            "main_heap_grow", "allocator", "leak", "malloc_summary", "retention",
            "malloc_guard", "maps_summary"}
    check(want <= seen, f"the sessions did not show {sorted(want - seen)}")


test_ndjson_keys_and_types_match_manual.timeout = 240
