# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""--stacks' per-stack ledger on a real process (stackmaps: map_big() mmaps 8 MiB in one call,
map_small() 2 MiB twice from one call site, unmap_half() unmaps the upper half of map_big's
mapping): the mapped_by_stack rows at the end name each function with its exact bytes and
calls, and their frames in the executable are strace -k's for the same mmap calls; --folded
writes the same rows as collapsed stacks; a --record of the run replays to the same rows."""
import re
import time

import mw
import test_noise
from mw import check, eq

EXE = "stackmaps"
MIB = 1 << 20


def exe_frames(frames):
    """(func, offset) of the frames in the workload's executable, innermost first."""
    return [(f.get("func"), f.get("offset")) for f in frames or []
            if f.get("module", "").endswith("/" + EXE)]


def strace_mmaps(path):
    """strace -f -k output -> {mmap length: [[(func, offset) in the executable], ...]}."""
    out, cur = {}, None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith(" > "):
                m = re.search(rf"/{EXE}\((\w+)\+0x([0-9a-f]+)\)", line)
                if m and cur is not None:
                    cur.append((m.group(1), int(m.group(2), 16)))
                continue
            m = re.search(r"\bmmap\(NULL, (\d+),", line)
            cur = None
            if m:
                cur = []
                out.setdefault(int(m.group(1)), []).append(cur)
    return out


def traced_run(*extra):
    out = mw.tmpfile("bystack.ndjson")
    w = mw.Proc([mw.need_memwatch(), "--stacks", "--json", "-o", out, *extra, "--",
                 mw.wl(EXE), "-W"], stdin=mw.subprocess.PIPE, name="memwatch")
    w.wait_line(r"^done \d+$")
    time.sleep(1.0)  # the ring is read on a short timer: every record is named by now
    w.send()
    eq(w.wait(20, "memwatch --stacks"), 0, "memwatch exit status")
    return mw.read_ndjson(out)


def check_keys(tr):
    """Every key as the manual's table says."""
    schema, problems = test_noise.manual_schema(), set()
    for o in tr.events:
        test_noise.check_object(schema, o["type"], {k: v for k, v in o.items() if k != "type"},
                                schema["(every)"], problems)
    check(not problems, f"keys differ from the manual: {sorted(problems)[:8]}")


def final_rows(tr):
    rows = tr.of("mapped_by_stack")
    check(rows, "no mapped_by_stack objects")
    last = max(r["ts_ns"] for r in rows)
    return [r for r in rows if r["ts_ns"] == last]


def row_of(rows, func):
    """The row whose innermost frame in the executable is func (exactly one)."""
    got = [r for r in rows if exe_frames(r.get("stack"))[:1] and
           exe_frames(r["stack"])[0][0] == func]
    eq(len(got), 1, f"mapped_by_stack rows whose innermost frame in {EXE} is {func}")
    return got[0]


def test_mapped_by_stack_against_strace_k():
    folded = mw.tmpfile("mapped.folded")
    tr = traced_run("--folded", folded)
    rows = final_rows(tr)
    big, small = row_of(rows, "map_big"), row_of(rows, "map_small")
    eq((big["mapped"], big["committed"], big["count"]), (4 * MIB, 4 * MIB, 1),
       "map_big: 8 MiB mapped in 1 call, half unmapped (mapped, committed, count)")
    eq((small["mapped"], small["committed"], small["count"]), (4 * MIB, 4 * MIB, 2),
       "map_small: 2 x 2 MiB in 2 calls (mapped, committed, count)")
    check(rows == sorted(rows, key=lambda r: -r["mapped"]), "rows are not largest first")

    # The independent oracle: strace -k's frames for the same calls of the same program.
    st_file = mw.tmpfile("strace.txt")
    rc, _, err = mw.run([mw.need_tool("strace"), "-f", "-k", "-e", "trace=mmap", "-o",
                         st_file, mw.wl(EXE), "-W"], input=b"x")
    eq(rc, 0, f"strace -k exit status ({mw.tail(err)!r})")
    st = strace_mmaps(st_file)
    eq(len(st.get(8 * MIB, [])), 1, "strace: map_big's 8 MiB mmap")
    eq(len(st.get(2 * MIB, [])), 2, "strace: map_small's 2 MiB mmaps")
    eq(exe_frames(big["stack"]), st[8 * MIB][0], "map_big's frames against strace -k")
    for want in st[2 * MIB]:
        eq(exe_frames(small["stack"]), want, "map_small's frames against strace -k")

    # --folded: the same rows, outermost frame first, mapped bytes at the end.
    with open(folded, encoding="utf-8") as f:
        lines = [ln.rstrip("\n") for ln in f if ln.strip()]
    by_leaf = {}
    for ln in lines:
        stack, _, value = ln.rpartition(" ")
        frames = stack.split(";")
        for fn in ("map_big", "map_small"):
            if fn in frames:
                by_leaf.setdefault(fn, []).append(int(value))
    eq(by_leaf.get("map_big"), [4 * MIB], "--folded: map_big's line")
    eq(by_leaf.get("map_small"), [4 * MIB], "--folded: map_small's line")
    eq(len(lines), len(rows), "--folded: one line per mapped_by_stack row")
    check_keys(tr)


def test_mapped_by_stack_replay_same():
    rec = mw.tmpfile("bystack.rec")
    live = final_rows(traced_run("--record", rec))
    rout = mw.tmpfile("bystack-replay.ndjson")
    rc, _, err = mw.run([mw.need_memwatch(), "--json", "-o", rout, "--replay", rec])
    eq(rc, 0, f"replay exit status ({mw.tail(err)!r})")
    rep = final_rows(mw.read_ndjson(rout))
    eq(rep, live, "replayed mapped_by_stack rows against the live run's")
    row_of(rep, "map_big")


def test_mapped_by_stack_after_exec_at_the_same_base():
    """A shell whose stacks were named first execs stackmaps; with ASLR off (setarch -R) both
    executables lie at the same base, so the frames of the new image must not be named from
    the old one's: map_big and map_small stay named in stackmaps (they were in dash)."""
    out = mw.tmpfile("bystack-exec.ndjson")
    rc, _, err = mw.run([mw.need_tool("setarch"), "-R", mw.need_memwatch(), "--stacks", "--json",
                         "-o", out, "--", "/bin/sh", "-c",
                         f"sleep 0.5; exec {mw.wl(EXE)}"], timeout=30)
    eq(rc, 0, f"memwatch exit status ({mw.tail(err)!r})")
    rows = final_rows(mw.read_ndjson(out))
    big, small = row_of(rows, "map_big"), row_of(rows, "map_small")
    eq((big["mapped"], small["mapped"]), (4 * MIB, 4 * MIB), "map_big's and map_small's bytes")
    # Whole stacks: the shell's stack top (where its copies stopped) went with its image.
    for r in (big, small):
        funcs = [f.get("func") for f in r["stack"]]
        check("_start" in funcs, f"a stack of the new image does not reach _start: {funcs}")


HEAP_MAX = 64 << 20  # a glibc arena heap's aligned reservation on 64-bit


def smaps(pid):
    """[(start, end, name, rss bytes)] of /proc/PID/smaps."""
    out = []
    with open(f"/proc/{pid}/smaps", encoding="utf-8", errors="replace") as f:
        for line in f:
            m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$", line)
            if m:
                out.append([int(m.group(1), 16), int(m.group(2), 16), m.group(3), 0])
            elif line.startswith("Rss:"):
                out[-1][3] = int(line.split()[1]) * 1024
    return out


def present(pid, start, end):
    """Bytes of [start, end) present, from /proc/PID/pagemap (bit 63)."""
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(start // 4096 * 8)
        data = f.read((end - start) // 4096 * 8)
    return sum(4096 for i in range(0, len(data), 8) if data[i + 7] & 0x80)


def test_resident_by_class_against_smaps():
    """resident_by_class (and the arena's resident) within 5% of smaps' Rss summed by class,
    read by the test while the process waits, idle; the same after a replay; RESIDENT in
    the text tables."""
    out, rec = mw.tmpfile("rclass.ndjson"), mw.tmpfile("rclass.rec")
    w = mw.Proc([mw.need_memwatch(), "--json", "-i", "0.3", "-o", out, "--record", rec, "--",
                 mw.wl(EXE), "-W"], stdin=mw.subprocess.PIPE, name="memwatch")
    m = w.wait_line(r"^chunk 0x([0-9a-f]+) arena 0x([0-9a-f]+)$")
    chunk, block = int(m.group(1), 16), int(m.group(2), 16)
    pid = int(w.wait_line(r"^done (\d+)$").group(1))
    time.sleep(0.5)
    maps = smaps(pid)
    c0 = chunk & ~4095
    want = {
        "main_heap": sum(r[3] for r in maps if r[2] == "[heap]"),
        "arena_heap": sum(r[3] for r in maps
                          if r[0] >= block & ~(HEAP_MAX - 1) and r[1] <= (block | (HEAP_MAX - 1)) + 1),
        "malloc_chunk": present(pid, c0, c0 + (4 << 20) + 4096),
        "file": sum(r[3] for r in maps if r[2].startswith("/")),
    }
    total = sum(r[3] for r in maps if r[2] != "[vsyscall]")
    time.sleep(0.7)  # interval reports after the test's reading, the process still idle
    w.send()
    eq(w.wait(20, "memwatch"), 0, "memwatch exit status")
    tr = mw.read_ndjson(out)
    sums = [p for p in tr.of("process_summary", pid=pid) if "resident_by_class" in p]
    check(sums, "no process_summary with resident_by_class")
    got = sums[-1]["resident_by_class"]
    for cls, v in want.items():
        check(v > 0, f"smaps: no resident {cls}")
        check(abs(got.get(cls, 0) - v) <= 0.05 * v,
              f"resident_by_class.{cls}: {got.get(cls)} is not within 5% of {v} (smaps)")
    s = sum(got.values())
    check(abs(s - total) <= 0.05 * total, f"resident by class sums to {s}, smaps' Rss {total}")
    # The process's last summary, after it exited: /proc gone, the key absent (not a guess).
    eq("resident_by_class" in tr.of("process_summary", pid=pid)[-1], False,
       "resident_by_class after the process is gone")
    check_keys(tr)
    arenas = [a for a in tr.of("arena_summary", pid=pid) if "resident" in a]
    check(arenas, "no arena_summary with resident")
    eq(arenas[-1]["resident"], sums[-1]["resident_by_class"].get("arena_heap"),
       "the one arena's resident: its heaps' bytes")

    rout = mw.tmpfile("rclass-replay.ndjson")
    rc, _, err = mw.run([mw.need_memwatch(), "--json", "-o", rout, "--replay", rec])
    eq(rc, 0, f"replay exit status ({mw.tail(err)!r})")
    rep = mw.read_ndjson(rout)
    eq([p.get("resident_by_class") for p in rep.of("process_summary", pid=pid)],
       [p.get("resident_by_class") for p in tr.of("process_summary", pid=pid)],
       "replayed resident_by_class")
    rc, text, err = mw.run([mw.need_memwatch(), "-c", "--replay", rec])
    eq(rc, 0, f"replay -c exit status ({mw.tail(err)!r})")
    text += err  # the text report goes to stderr without -o
    check(re.search(r"ARENA .*THREADS\s+RESIDENT", text), "no RESIDENT column in the arena table")
    check(re.search(r"^\s+RESIDENT\s+\S+", text, re.M), "no RESIDENT row under the classes")


def pprof_cum(text):
    """`go tool pprof -top -cum -unit=B` lines -> {function: cumulative bytes}."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^\s*\S+\s+\S+%\s+\S+%\s+(\d+)B\s+\S+%\s+(\S.*?)\s*$", line)
        if m:
            out[m.group(2)] = int(m.group(1))
    return out


def test_pprof_mapped_and_resident_live():
    """GET /debug/pprof/mapped and /debug/pprof/resident on the --prometheus endpoint while
    stackmaps is held, read by go tool pprof (an independent decoder): under --stacks the mapped
    profile holds map_big's 4 MiB and map_small's 4 MiB still mapped (mapped_space, all of it
    committed), under --fault-stacks=1 the resident profile holds what each function touched
    (8 MiB and 4 MiB written page by page: 2048 and 1024 faults, within 5%: the kernel may map
    a few pages in one fault; samples a full ring lost are said, and count for any function)."""
    import test_pprof
    port = mw.free_port()
    w = mw.Proc([mw.need_memwatch(), "--stacks", "--fault-stacks=1", "-c", "-o", "/dev/null",
                 "--prometheus", f"127.0.0.1:{port}", "--", mw.wl(EXE), "-W"],
                stdin=mw.subprocess.PIPE, name="memwatch")
    w.wait_line(r"^done \d+$")
    url = f"http://127.0.0.1:{port}/debug/pprof/"

    def resident():
        return pprof_cum(test_pprof.go_pprof("-top", "-cum", "-unit=B", "-nodefraction=0",
                                             "-sample_index=faulted_space", url + "resident"))
    # Every fault record is unwound before it counts: 3072 of them take a while on a slow (or
    # sanitized) build. The profile is read once it stopped changing.
    cum, deadline = resident(), time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.5)
        prev, cum = cum, resident()
        if cum == prev:
            break
    for idx in ("mapped_space", "committed_space"):
        got = pprof_cum(test_pprof.go_pprof("-top", "-cum", "-unit=B", "-nodefraction=0",
                                            f"-sample_index={idx}", url + "mapped"))
        eq((got.get("map_big"), got.get("map_small")), (4 * MIB, 4 * MIB), f"{idx} by function")
    # A slow (sanitized) build may leave the ring full: the samples lost are under their own
    # label, and may be any function's.
    lost = cum.get("(stacks lost: ring full)", 0)
    for func, want in (("map_big", 8 * MIB), ("map_small", 4 * MIB)):
        got = cum.get(func, 0)
        check(want * 0.95 <= got + lost and got <= want * 1.05,
              f"faulted_space under {func}: {got} of {want} ({lost} lost to a full ring)")
    w.send()
    eq(w.wait(20, "memwatch --stacks --fault-stacks"), 0, "memwatch exit status")
