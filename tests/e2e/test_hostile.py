# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A traced process that tries to hurt memwatch (tests/workloads/hostile.c): names that would
forge lines or break a parser, 60k mappings with exec mmaps, tens of thousands of distinct
mapping names, a 64 TiB mapping, 10,000 threads. Every output stays well-formed and memwatch's
cost stays bounded."""
import os
import re
import shutil
import subprocess
import time

import mw
from mw import check, eq

# What hostile.c names things (bytes, as the kernel keeps them).
THREAD_NAMES = [b"nl\n] +++ x", b"\x1b[2J\x1b[31mred", b'q"}{\\,x="1', b"s\xed\xa0\x80",
                b"b\xf4\x90\x80\x80", b"o\xc0\xaf\xff", b"c1\xc2\x9b31m", b"bidi\xe2\x80\xaex"]
MAIN_NAME = b'main\n"\x1b'
MAP_NAMES = [b"map\n+++ fake +++", b"esc\x1b]0;title\x07", b'quote"back\\slash',
             b"sur\xed\xa0\x80gate", b"big\xf4\x90\x80\x80", b"over\xc0\xaflong\xff",
             b"csi\xc2\x9b2J", b"rlo\xe2\x80\xaetxt", b"tab\tcr\r"]
# Characters a terminal acts on although they are valid UTF-8 (base/text.h).
INVISIBLE = set(range(0x80, 0xa0)) | {0x200e, 0x200f} | set(range(0x2028, 0x202f)) | \
    set(range(0x2066, 0x206a))


def utf8_chars(b):
    """(char or None, bytes) for each character of b: None for a byte that is not part of
    valid UTF-8 (Python's decoder is as strict as memwatch's: no surrogate, overlong or past
    U+10FFFF)."""
    i = 0
    while i < len(b):
        for n in (1, 2, 3, 4):
            try:
                c = b[i:i + n].decode("utf-8")
            except UnicodeDecodeError:
                continue
            if len(c) == 1:
                yield c, b[i:i + n]
                i += n
                break
        else:
            yield None, b[i:i + 1]
            i += 1


def json_view(b):
    """What memwatch's JSON says for the name b: valid characters as they are, every other byte
    as the character of its value."""
    return "".join(c if c is not None else chr(raw[0]) for c, raw in utf8_chars(b))


def prom_view(b):
    """A Prometheus label value of b, unescaped: invalid bytes U+FFFD, controls and the
    characters a terminal acts on '?'."""
    out = []
    for c, raw in utf8_chars(b):
        if c is None:
            out.append("\ufffd")
        elif c == "\n" or (" " <= c < "\x7f") or (ord(c) >= 0x80 and ord(c) not in INVISIBLE):
            out.append(c)
        else:
            out.append("?")
    return "".join(out)


def prom_escape(v):
    """A label value as the exposition format writes it."""
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def text_view(b):
    """The text output's form of b (base/text.h): as it is when every character is printable
    and none is '"' or '\\', else quoted with \\n \\t \\r \\" \\\\ and \\xNN escapes."""
    def printable(c):
        return c is not None and ((" " <= c <= "~") or (ord(c) >= 0x80 and ord(c) not in
                                                         INVISIBLE))
    chars = list(utf8_chars(b))
    if all(printable(c) and c not in '"\\' for c, _ in chars):
        return b.decode("utf-8")
    out = []
    for c, raw in chars:
        if printable(c) and c not in '"\\':
            out.append(c)
        elif c in ("\n", "\t", "\r", '"', "\\"):
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r", '"': '\\"', "\\": "\\\\"}[c])
        else:
            out.extend(f"\\x{x:02x}" for x in raw)
    return '"' + "".join(out) + '"'


def check_clean_text(data, what):
    """Valid UTF-8, and no character a terminal acts on but the newlines ending lines."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise AssertionError(f"{what}: not UTF-8 at byte {e.start}: {data[e.start - 20:e.start + 20]!r}")
    for i, c in enumerate(text):
        o = ord(c)
        if (o < 0x20 and c != "\n") or o == 0x7f or o in INVISIBLE:
            raise AssertionError(f"{what}: raw U+{o:04X} in {text[max(0, i - 40):i + 20]!r}")
    return text


def maps_names(pid, d):
    """The name field of /proc/PID/maps (bytes, as the kernel writes it: \\n as \\012) of each
    mapping hostile -N made."""
    names = []
    with open(f"/proc/{pid}/maps", "rb") as f:
        for line in f:
            parts = line.rstrip(b"\n").split(None, 5)
            if len(parts) == 6 and (parts[5].startswith(b"/memfd:") or
                                    parts[5].startswith(d.encode() + b"/")):
                names.append(parts[5])
    return names



def test_hostile_names_every_output_well_formed():
    """hostile -N: a main thread and 8 threads named with a newline that would forge a trace
    line, ESC sequences, quotes and backslashes, a surrogate, a code point past U+10FFFF, an
    overlong form, C1 CSI and a bidi override, and memfds and files named so too. The text
    trace (and its region table), NDJSON (every line parsed by python's json), a live scrape
    (promtool check metrics) and memwatch maps (text and --json) all stay well-formed: no
    raw control or terminal-active character, no forged line, and every name reads back."""
    d = mw.tmpdir()
    w = mw.workload("hostile", "-w", "-W", "-N", d)
    names = maps_names(w.pid, d)
    eq(len(names), 2 * len(MAP_NAMES), "hostile's memfd and file mappings in /proc/PID/maps")
    text_out, json_out = mw.tmpfile("trace.txt"), mw.tmpfile("trace.ndjson")
    port = mw.free_port()
    a = mw.attach([w.pid], "--maps-at-exit", out=text_out)
    b = mw.attach([w.pid], "--json", "--maps-at-exit", "--prometheus", f"127.0.0.1:{port}",
                  out=json_out)
    w.send()
    w.wait_line(r"^named \d+$")
    tids = sorted(int(t) for t in os.listdir(f"/proc/{w.pid}/task"))
    eq(len(tids), 1 + len(THREAD_NAMES), "hostile's threads")
    # Prometheus: a live scrape that promtool accepts, every thread under its name.
    time.sleep(0.3)
    r = subprocess.run([mw.need_tool("curl"), "-s", "-m", "5", f"http://127.0.0.1:{port}/metrics"],
                       capture_output=True, timeout=10)
    eq(r.returncode, 0, "curl /metrics")
    scrape = check_clean_text(r.stdout, "the scrape")
    p = subprocess.run([mw.need_tool("promtool"), "check", "metrics"], input=r.stdout,
                       capture_output=True, timeout=30)
    eq((p.returncode, (p.stdout + p.stderr).decode(errors="replace").strip()), (0, ""),
       "promtool check metrics on the scrape")
    label = re.compile(r'thread="((?:[^"\\]|\\.)*)"')
    got = set()
    for line in scrape.splitlines():
        if line.startswith(f'memwatch_syscalls_total{{pid="{w.pid}"'):
            m = label.search(line)
            got.add(m.group(1).replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\"))
    eq(got, {prom_view(n) for n in THREAD_NAMES + [MAIN_NAME]}, "thread labels of the scrape")
    check('comm="' + prom_escape(prom_view(MAIN_NAME)) + '"' in scrape, "the comm label")
    # memwatch maps: the names escaped in text, as characters in JSON.
    rc, out, err = mw.run([mw.need_memwatch(), "maps", "-p", str(w.pid)], timeout=30)
    eq(rc, 0, f"memwatch maps (stderr {err!r})")
    mt = check_clean_text(out.encode(), "memwatch maps")
    rows = [ln for ln in mt.splitlines() if re.match(r"^[0-9a-f]{12} ", ln)]
    eq(len(rows) + 2, len(mt.splitlines()), "memwatch maps: header, a row per mapping, summary")
    for n in names:
        check(any(ln.endswith(" " + text_view(n)) for ln in rows),
              f"memwatch maps: no row ends with {text_view(n)!r}")
    rc, out, err = mw.run([mw.need_memwatch(), "maps", "-p", str(w.pid), "--json"], timeout=30)
    eq(rc, 0, f"memwatch maps --json (stderr {err!r})")
    js = mw.parse_ndjson(check_clean_text(out.encode(), "memwatch maps --json"))
    got = {e.get("name") for e in js if e["type"] == "region"}
    for n in names:
        check(json_view(n) in got, f"memwatch maps --json: no region named {json_view(n)!r}")
    # The threads exit, then the process.
    w.send()
    w.wait_line(r"^done \d+$")
    w.send()
    eq(w.wait(20), 0, "hostile's exit status")
    eq(mw.finish(a), 0, "memwatch (text) exit status")
    eq(mw.finish(b), 0, "memwatch (NDJSON) exit status")
    # Text: nothing raw, no forged line, every comm reads back.
    with open(text_out, "rb") as f:
        text = check_clean_text(f.read(), "the text trace")
    prefix = re.compile(r'^\d\d:\d\d:\d\d\.\d{6} \[(\d+)/(\d+) ("(?:[^"\\]|\\.)*"|[^"\]]*)\] ')
    comms = {}
    for ln in text.splitlines():
        # Event lines end in "+++" or say "renamed to"; a forged one lacks the prefix.
        if ln.endswith("+++") or " renamed to " in ln:
            m = prefix.match(ln)
            check(m, f"an event line without its prefix (forged?): {ln!r}")
            comms.setdefault(int(m.group(2)), set()).add(m.group(3))
    eq(sum(ln.endswith("+++ thread exited +++") for ln in text.splitlines()), len(THREAD_NAMES),
       "'thread exited' lines (one per thread, none forged)")
    want = {text_view(n) for n in THREAD_NAMES}
    check(want <= {c for s in comms.values() for c in s},
          f"thread names in the text trace: {sorted(want - {c for s in comms.values() for c in s})} missing")
    check(f"({text_view(MAIN_NAME)})" in text, "the process's name in its summary")
    for n in names:
        check(text_view(n) in text, f"--maps-at-exit table: no {text_view(n)!r}")
    # NDJSON: every line an object (python's json is strict about control characters), every
    # name read back as memwatch's JSON promises.
    with open(json_out, "rb") as f:
        tr = mw.Trace(mw.parse_ndjson(check_clean_text(f.read(), "the NDJSON trace")))
    summaries = tr.thread_summaries(w.pid)
    eq(sorted(summaries), tids, "a thread_summary per thread")
    eq(sorted(e["comm"] for e in summaries.values()),
       sorted(json_view(n) for n in THREAD_NAMES + [MAIN_NAME]), "thread_summary comms")
    eq(tr.process(w.pid)["comm"], json_view(MAIN_NAME), "process_summary comm")
    regions = {e.get("name") for e in tr.of("region", pid=w.pid)}
    for n in names:
        check(json_view(n) in regions, f"--maps-at-exit region named {json_view(n)!r}")


test_hostile_names_every_output_well_formed.timeout = 90


def _cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_hostile_exec_mmaps_cost_bounded():
    """60,000 mappings, then 500 mmaps of code (PROT_EXEC, each unmapped again): each used to
    re-read and re-parse all of /proc/PID/maps in the event loop, 13 s of memwatch's CPU (and
    records lost meanwhile); now a readlink of map_files, and a whole read only within 2% of
    the time. The workload stays alive until memwatch is idle again; memwatch's CPU in all
    (attach and the 60k-mapping baseline included) stays under 3 s, no record is lost, and
    every call is counted."""
    mw.skip_under_asan("measures memwatch's own CPU time")
    w = mw.workload("hostile", "-w", "-W", "-m", "60000", "-x", "500")
    out = mw.tmpfile("t.ndjson")
    m = mw.attach([w.pid], "-c", "--json", "-v", out=out)
    w.send()
    w.wait_line(r"^done \d+$", timeout=60)
    # Until memwatch has worked through the records (its CPU time stops moving).
    deadline, last = time.monotonic() + 40, -1.0
    while time.monotonic() < deadline:
        time.sleep(1)
        spent = _cpu_seconds(m.pid)
        if spent - last < 0.02:
            break
        last = spent
    w.send()
    eq(w.wait(20), 0, "hostile's exit status")
    eq(mw.finish(m, timeout=60), 0, "memwatch exit status")
    line = m.wait_line(r"kernel: (\d+) records, (\d+) lost")
    print(f"  exec mmaps: memwatch used {spent:.2f} s of CPU for a 60k-mapping process making "
          f"500 code mappings; {line.group(1)} records, {line.group(2)} lost")
    eq(int(line.group(2)), 0, "records lost")
    s = [e for e in mw.read_ndjson(out).of("thread_summary") if e["pid"] == w.pid]
    eq([(e["calls"]["mmap"], e["calls"]["munmap"]) for e in s], [(500, 500)],
       "the workload's mmaps and munmaps after the attach")
    check(spent < 3.0, f"memwatch used {spent:.1f} s of CPU for 500 exec mmaps")


test_hostile_exec_mmaps_cost_bounded.timeout = 120


def _rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"^VmRSS:\s+(\d+)", f.read(), re.M).group(1))


def test_hostile_mapping_names_reclaimed():
    """--comm hostile; 6 processes in turn, each with 20,000 memfds of its own names and one
    code mapping (which reads its maps): the names of a process that is gone are reclaimed, so
    memwatch's RSS after the last one is within 3 MB of its RSS after the second (it grew
    3-4 MB per process before)."""
    mw.skip_under_asan("measures memwatch's own memory")
    m = mw.memwatch("-c", "-o", os.devnull, "--comm", "^hostile$")
    mw.wait_tracing(m)
    rss = []
    for _ in range(6):
        w = mw.workload("hostile", "-w", "-W", "-M", "20000", "-x", "1")
        w.send()
        w.wait_line(r"^done \d+$", timeout=60)
        time.sleep(0.5)
        w.send()
        eq(w.wait(30), 0, "hostile's exit status")
        time.sleep(1.5)
        rss.append(_rss_kb(m.pid))
    mw.interrupt(m)
    print(f"  mapping names: memwatch RSS after each process (kB): {rss}")
    check(rss[-1] - rss[1] < 3072, f"memwatch's RSS grew from {rss[1]} kB to {rss[-1]} kB")


test_hostile_mapping_names_reclaimed.timeout = 180


def test_hostile_huge_mapping_seed_cheap():
    """A 64 TiB MAP_NORESERVE mapping: seeding the process (memwatch maps, and an attach) is
    O(regions); it cost 1 s of CPU in memwatch maps, 0.5 s per seed, in 64 MiB steps."""
    mw.skip_under_asan("measures memwatch's own CPU time")
    w = mw.workload("hostile", "-w", "-H")
    t0 = os.times()
    rc, out, err = mw.run([mw.need_memwatch(), "maps", "-p", str(w.pid), "--json"], timeout=30)
    t1 = os.times()
    eq(rc, 0, f"memwatch maps (stderr {err!r})")
    spent = (t1.children_user + t1.children_system) - (t0.children_user + t0.children_system)
    big = [e for e in mw.parse_ndjson(out) if e["type"] == "region" and e["size"] == 64 << 40]
    eq(len(big), 1, "the 64 TiB mapping in memwatch maps")
    print(f"  64 TiB mapping: memwatch maps took {spent:.3f} s of CPU")
    check(spent < 0.3, f"memwatch maps took {spent:.2f} s of CPU")
    w.send()
    w.wait(20)


def _hwm_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"^VmHWM:\s+(\d+)", f.read(), re.M).group(1))


def _rings_twice_kb(pid):
    """kB of memwatch's RSS that are ring-buffer pages counted a second time: libbpf maps
    each ring's data area twice in a row (a record crossing the end reads contiguously),
    so VmRSS counts those pages twice while the machine holds them once. Rss - Pss of the
    read-only bpf-map mappings (the rings' data; no other process maps them)."""
    twice, cur = 0, None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = re.match(r"^[0-9a-f]+-[0-9a-f]+ (\S+) .*?(\S*)$", line)
            if m:
                cur = {} if m.group(1) == "r--s" and "bpf-map" in line else None
            elif cur is not None and line.startswith(("Rss:", "Pss:")):
                cur[line[:3]] = int(line.split()[1])
                if len(cur) == 2:
                    twice += cur["Rss"] - cur["Pss"]
                    cur = None
    return twice


def test_hostile_memory_at_10k_threads():
    """10,000 threads alive together, 3 mmap+munmap each, attached with -p: counted exactly,
    and memwatch's own peak RSS (VmHWM, not its children's) stays under 24 MB (measured here:
    20.9-21.7 MB, the peak while the BPF programs load, 8 MB of it the event ring as mapped;
    26.5-27.3 MB before the fixed mmap threshold and libmicrohttpd opened only for
    --prometheus; the 84 MB once reported was the maximum over memwatch and the command it
    reaps)."""
    mw.skip_under_asan("measures memwatch's own memory")
    w = mw.workload("hostile", "-w", "-W", "-t", "10000")
    out = mw.tmpfile("t.ndjson")
    m = mw.attach([w.pid], "-c", "--json", out=out)
    w.send()
    w.wait_line(r"^done \d+$", timeout=90)
    time.sleep(1)
    hwm = _hwm_kb(m.pid)
    w.send()
    eq(w.wait(30), 0, "hostile's exit status")
    eq(mw.finish(m, timeout=60), 0, "memwatch exit status")
    tr = mw.read_ndjson(out)
    ts = [t for t in tr.thread_summaries(w.pid).values() if t["tid"] != w.pid]
    eq(len(ts), 10000, "thread summaries")
    eq({(t["calls"]["mmap"], t["calls"]["munmap"]) for t in ts}, {(3, 3)},
       "mmap and munmap calls of every thread")
    print(f"  10,000 threads: memwatch peak RSS {hwm / 1024:.1f} MB")
    check(hwm < 24 * 1024, f"memwatch's peak RSS {hwm} kB")


test_hostile_memory_at_10k_threads.timeout = 180


def test_hostile_malloc_memory_at_10k_threads():
    """The same 10,000 threads with --malloc: memwatch's peak RSS (VmHWM) stays under 43 MB,
    and under 31 MB less the rings' pages that VmRSS counts twice (the 4 MiB event ring and
    the 8 MiB allocation ring: 12 MiB that the machine holds once; both are mapped, and
    resident, from before the peak on). Measured here: VmHWM 38.5-39.7 MB, 26.5-27.7 MB less
    the second mapping: 24 MB the rings as mapped, 3.6 MB the 10,000 thread records, 3 MB
    heap, the rest code. It was 62-68 MB: 10 MB libc's DWARF decompressed for file:line of
    libc frames (libc is named from its symbol table now), 9 MB large tables in the brk heap
    once glibc's mmap threshold had risen (now fixed), 4.5 MB libc's layout read after the
    allocation ring was mapped (now before), 1.4 MB two sets of counts per thread (now one),
    2.5 MB libmicrohttpd and its TLS stack (now opened only for --prometheus)."""
    mw.skip_under_asan("measures memwatch's own memory")
    w = mw.workload("hostile", "-w", "-W", "-t", "10000")
    m = mw.attach([w.pid], "-c", "--malloc", out=os.devnull)
    w.send()
    w.wait_line(r"^done \d+$", timeout=90)
    time.sleep(1)
    hwm = _hwm_kb(m.pid)
    twice = _rings_twice_kb(m.pid)
    w.send()
    eq(w.wait(30), 0, "hostile's exit status")
    eq(mw.finish(m, timeout=60), 0, "memwatch exit status")
    print(f"  10,000 threads with --malloc: memwatch peak RSS {hwm / 1024:.1f} MB, "
          f"{(hwm - twice) / 1024:.1f} MB less the rings' second mapping ({twice} kB)")
    check(0 < twice <= (4 + 8) * 1024, f"ring pages counted twice: {twice} kB")
    check(hwm < 43 * 1024, f"memwatch's peak RSS {hwm} kB")
    check(hwm - twice < 31 * 1024, f"memwatch's peak RSS less the rings' second mapping: "
          f"{hwm - twice} kB")


test_hostile_malloc_memory_at_10k_threads.timeout = 180


def test_hostile_module_name_in_stacks():
    """--stacks' text prints each frame's module as strace -k does; the module is a file the
    traced process runs, and its name is the target's choice: stackmaps run from a path with a
    newline that would forge a trace line and an ESC sequence. The text trace holds no raw
    control or terminal-active character and no forged line, and the path reads back escaped
    in the stacks of its mmap calls."""
    d = os.path.join(mw.tmpdir(), "bin\n+++ exited with 0 +++\x1b[2J")
    os.makedirs(d)
    exe = os.path.join(d, "stackmaps")
    shutil.copy(mw.wl("stackmaps"), exe)
    out = mw.tmpfile("stacks.txt")
    rc, _, err = mw.run([mw.need_memwatch(), "--stacks", "-o", out, "--", exe], timeout=60)
    eq(rc, 0, f"memwatch exit status ({mw.tail(err)!r})")
    with open(out, "rb") as f:
        data = f.read()
    text = check_clean_text(data, "the --stacks trace")
    forged = [ln for ln in text.splitlines() if ln.startswith("+++ exited with 0 +++")]
    eq(forged, [], "lines forged by the module's name")
    # The path as /proc/PID/maps gives it (a newline as \012), then quoted: \\012, \x1b.
    want = '\\\\012+++ exited with 0 +++\\x1b[2J/stackmaps"(map_big+'
    check(any(ln.startswith(' > "') and want in ln for ln in text.splitlines()),
          f"no strace -k-style frame of map_big in the quoted path: {text[:600]!r}")
