# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""--perfetto FILE: the trace decoded by an independent reader (perfetto_pb.py: protobuf's wire
format and Perfetto's field numbers) and checked against the NDJSON of the same run: the
process and thread tracks with their names, every value of the process's mapped counter
against the syscalls' vm_delta, the final values of every counter against the summaries,
an arena-created instant on the creating thread for each arena_create, a large-mapping
instant for each mmap of 1 MiB or more; a resident track ending at rss_end. A replay of
the run's recording writes the same trace."""
import os
import socket

import mw
import perfetto_pb
from mw import check, eq

COUNTER, INSTANT = 4, 3


def by_name(tracks, parent, name):
    found = [t for t in tracks.values() if t.get("parent") == parent and t["name"] == name]
    eq(len(found), 1, f"counter tracks named {name!r} under track {parent}")
    return found[0]["uuid"]


def values(events, uuid):
    return [(e["ts"], e["value"]) for e in events if e["track"] == uuid and e["type"] == COUNTER]


def test_perfetto_arena_demo():
    trace, rec = mw.tmpfile("run.pftrace"), mw.tmpfile("run.rec")
    rc, tr, err = mw.launch_json("--perfetto", trace, "--record", rec, "--",
                                 mw.wl("arena_demo"), "3")
    eq(rc, 0, f"memwatch exit status (stderr {mw.tail(err)!r})")
    pid = tr.of("exec")[0]["pid"] if tr.of("exec") else tr.of("process_summary")[-1]["pid"]
    tracks, events = perfetto_pb.read(trace)
    procs = [t for t in tracks.values() if t.get("process_name") is not None]
    eq([(t["pid"], t["process_name"]) for t in procs], [(pid, "arena_demo")], "process tracks")
    puuid = procs[0]["uuid"]
    ps = tr.process(pid)
    # Every point of the mapped counter is exact at its time: the final size less the
    # vm_delta of the calls after it.
    calls = sorted((e["ts_ns"], e["vm_delta"]) for e in tr.syscalls(pid=pid))
    mapped = values(events, by_name(tracks, puuid, "mapped"))
    check(len(mapped) > 3, f"only {len(mapped)} points on the mapped track")
    for ts, v in mapped:
        later = sum(d for t, d in calls if t > ts)
        eq(v, ps["mapped"] - later, f"mapped at {ts}")
    eq(mapped[-1][1], ps["mapped"], "final mapped against process_summary")
    eq(values(events, by_name(tracks, puuid, "committed"))[-1][1], ps["committed"],
       "final committed against process_summary")
    eq(values(events, by_name(tracks, puuid, "resident"))[-1][1], ps["rss_end"],
       "final resident against process_summary's rss_end")
    # Threads: named tracks under the process, their own ledger as NDJSON's net/accessible.
    threads = {t["tid"]: t for t in tracks.values() if t.get("thread_name") is not None}
    for tid, ts in tr.thread_summaries(pid).items():
        if not ts["mapped"] and not ts["unmapped"]:
            continue
        check(tid in threads, f"no track for thread {tid} ({ts['comm']})")
        eq(threads[tid]["thread_name"], ts["comm"], f"thread {tid} name")
        eq(threads[tid]["parent"], puuid, f"thread {tid} parent track")
        u = threads[tid]["uuid"]
        eq(values(events, by_name(tracks, u, "net mapped"))[-1][1], ts["net"], f"{tid} net")
        eq(values(events, by_name(tracks, u, "net committed"))[-1][1], ts["accessible"],
           f"{tid} accessible")
    # Arenas: a committed counter each, and an instant on the creating thread.
    created = tr.of("arena_create", pid=pid)
    eq(len(created), 3, "arena_create objects")
    for a in tr.of("arena_summary", pid=pid):
        u = by_name(tracks, puuid, f"arena {a['arena']} committed")
        eq(values(events, u)[-1][1], a["committed"], f"arena {a['arena']} committed")
    for c in created:
        inst = [e for e in events if e["type"] == INSTANT
                and e["name"] == f"arena {c['arena']} created"]
        eq(len(inst), 1, f"arena {c['arena']} created instants")
        eq(inst[0]["track"], threads[c["tid"]]["uuid"], f"arena {c['arena']}: creator's track")
        eq(inst[0]["ts"], c["ts_ns"], f"arena {c['arena']}: time")
    big = [e for e in tr.syscalls(pid=pid) if e["name"] in ("mmap", "mremap")
           and not e.get("error") and e["args"].get("len" if e["name"] == "mmap" else
                                                     "new_len", 0) >= 1 << 20]
    inst = [e for e in events if e["type"] == INSTANT and e["name"].startswith(("mmap ",
                                                                              "mremap "))]
    check(big, "no large mapping in the run")
    eq(sorted((e["ts"], e["args"]["len"]) for e in inst),
       sorted((e["ts_ns"], e["args"].get("len", e["args"].get("new_len"))) for e in big),
       "large-mapping instants against the NDJSON mmaps of 1 MiB or more")
    # The replay of the recording writes the same trace.
    again = mw.tmpfile("replay.pftrace")
    rc, _, err = mw.run([mw.need_memwatch(), "--replay", rec, "-c", "-o", os.devnull,
                         "--perfetto", again])
    eq(rc, 0, f"replay exit status ({mw.tail(err)!r})")
    eq(open(again, "rb").read(), open(trace, "rb").read(), "the replay's trace")


def test_perfetto_unwritable_keeps_old_file():
    """An unwritable --perfetto FILE: one line, exit 1, the command never started; a run that
    fails leaves an existing FILE as it was (the trace is written aside and renamed)."""
    marker = mw.tmpfile("ran")
    rc, _, err = mw.run([mw.need_memwatch(), "--perfetto", "/nonexistent/t.pftrace", "--",
                         "touch", marker])
    eq(rc, 1, "exit status")
    check("/nonexistent/t.pftrace" in mw.one_error_line(err, "--perfetto"), f"{err!r}")
    check(not os.path.exists(marker), "the command ran")
    old = mw.tmpfile("old.pftrace")
    with open(old, "wb") as f:
        f.write(b"old")
    # The trace is opened, then the run fails: the --prometheus port is taken.
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        rc, _, err = mw.run([mw.need_memwatch(), "--perfetto", old, "--prometheus",
                             f"127.0.0.1:{busy.getsockname()[1]}", "--", "true"])
    finally:
        busy.close()
    eq(rc, 1, f"exit status ({err!r})")
    check("already in use" in err, f"stderr {err!r}")
    eq(open(old, "rb").read(), b"old", "the existing file")
    eq([n for n in os.listdir(os.path.dirname(old)) if n != "old.pftrace"], [],
       "files left beside it")
