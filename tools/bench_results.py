#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Writes one section of tools/bench-results.md, the benchmark output kept in the tree, so that
the numbers tools/BENCH.md talks about can be checked: `make bench` (tools/bench.sh, then
tools/bench_malloc.sh, tools/bench_sampler.sh and tools/bench_faults.sh) calls it with the tables it printed on stdin,
and it replaces that section, leaving the others as they are (each part also runs alone).

usage: bench_results.py SECTION KNOBS < TABLES
       bench_results.py --take FILE SECTION
  SECTION  syscalls, malloc, budget, sampler, faults, ustack, or kernel-SERIES (tools/bench.sh's
           syscall tables from a VM running that kernel: make bench-kernels)
  KNOBS    the run's parameters as NAME=VALUE words; a value that is not the script's default
           marks the section as a smoke run, not a measurement
  --take   copies SECTION as FILE has it (a VM wrote FILE): the run's own date, kernel and CPUs
Each section opens with the date, the kernel, the CPU count, the tree (git commit, "+changes"
when the work tree differs) and the knobs. BENCH_RESULTS names another file to write.
"""
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PATH = os.environ.get("BENCH_RESULTS") or os.path.join(ROOT, "tools", "bench-results.md")

# Section -> (title, the script's defaults of its knobs).
SECTIONS = {
    "syscalls": ("System-call tracing (tools/bench.sh)",
                 dict(ROUNDS="5", SPIN_N="80000", MIX_N="6000", RATE="200000", RATE_SEC="3",
                     STRACE="1", PIN="1")),
    "malloc": ("Allocation probes (tools/bench_malloc.sh)",
               dict(ROUNDS="5", PAIRS="40000", WORK_SEC="1", SAMPLE="100",
                    SAMPLE_BYTES="524288", DUTY="1,10")),
    "budget": ("Allocation probes within an overhead budget: redis (tools/bench_malloc.sh, "
               "PARTS=redis)", dict(REDIS_N="100000", REDIS_ROUNDS="5", REDIS_BUDGETS="5,10",
                         REDIS_FULL_N="30000", REDIS_EST_N="300000", SHARES_SEC="20")),
    "sampler": ("The in-process sampler (tools/bench_sampler.sh)",
                dict(ROUNDS="3", PAIRS="20000000", UPAIRS="40000", REDIS_N="2000000", MEAN="512K",
                     ACC_MEAN="8K")),
    "faults": ("Page faults: the fault probe and --fault-stacks (tools/bench_faults.sh)",
               dict(ROUNDS="5", MIB="256")),
    "ustack": ("User stacks (tools/bench.sh: .output/unit_tests ustack_cache_verified)", {}),
}
# make bench-kernels (tools/vm/check_kernels.py --bench): the syscall tables on another kernel,
# under QEMU's TCG, where only ratios mean something; knobs small enough for TCG.
KERNEL_DEFAULTS = dict(ROUNDS="7", SPIN_N="20000", MIX_N="500", RATE="20000", RATE_SEC="1",
                       STRACE="0", STACKS="0", BESIDE="0", PIN="1")


def section_info(name):
    """(title, default knobs) of a section, None for no such section."""
    if name in SECTIONS:
        return SECTIONS[name]
    m = re.fullmatch(r"kernel-(\d+\.\d+)", name)
    if m:
        return (f"System-call tracing on Linux {m.group(1)} in QEMU (make bench-kernels: "
                "tools/bench.sh's syscall part, TCG: ratios only)", KERNEL_DEFAULTS)
    return None


def order(name):
    """Sections in SECTIONS' order, then the kernels' by series."""
    if name in SECTIONS:
        return (0, list(SECTIONS).index(name), [])
    return (1, 0, [int(x) for x in re.findall(r"\d+", name)])

HEAD = """# memwatch: benchmark results (generated)

Written by `sudo make bench` (`tools/bench.sh`, `tools/bench_malloc.sh`,
`tools/bench_sampler.sh`, `tools/bench_faults.sh`); do not edit by hand. `tools/BENCH.md` says what is measured and how, and reads its numbers from here. Each
section names its run: date, kernel, CPUs, the tree and the knobs.
"""


def online_cpus():
    try:
        with open("/sys/devices/system/cpu/online") as f:
            text = f.read().strip()
    except OSError:
        return None
    n = 0
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        n += int(hi or lo) - int(lo) + 1
    return n


def tree():
    def git(*args):
        r = subprocess.run(["git", "-C", ROOT] + list(args), capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else ""
    commit = git("rev-parse", "--short=12", "HEAD")
    if not commit:
        return "not a git checkout"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".",
                ":(exclude)tools/bench-results.md")
    return commit + (" +changes" if dirty else "")


def section_text(name, knobs, body):
    title, defaults = section_info(name)
    given = dict(k.split("=", 1) for k in knobs)
    # Another build's path (MEMWATCH=...) would be this machine's: its name is enough.
    given = {k: (os.path.basename(v) + " (another build)" if v.startswith("/") else v)
             for k, v in given.items()}
    smoke = sorted(k for k, v in given.items() if k in defaults and defaults[k] != v)
    knob_text = " ".join(f"{k}={v}" for k, v in given.items()) or "none"
    lines = [
        f"<!-- section {name}: begin -->",
        f"## {title}",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M %Z')}: Linux {os.uname().release}, "
        f"{os.cpu_count()} CPUs ({online_cpus()} online), tree {tree()}; knobs: {knob_text}.",
    ]
    if smoke:
        lines += ["", f"**A smoke run, not a measurement**: {', '.join(smoke)} differ from the "
                      f"defaults ({', '.join(f'{k}={defaults[k]}' for k in smoke)})."]
    lines += ["", "```", body.rstrip("\n"), "```", f"<!-- section {name}: end -->"]
    return "\n".join(lines)


def sections(text):
    """The sections of a results file's text, by name."""
    return {m.group(1): m.group(0) for m in re.finditer(
        r"<!-- section ([\w.-]+): begin -->.*?<!-- section \1: end -->", text, re.S)}


def write(name, section):
    old = ""
    if os.path.exists(PATH):
        with open(PATH, encoding="utf-8") as f:
            old = f.read()
    parts = sections(old)
    parts[name] = section
    text = HEAD + "".join(f"\n{parts[s]}\n" for s in sorted(parts, key=order)
                          if section_info(s))
    fd, tmp = tempfile.mkstemp(prefix=".bench-results-", dir=os.path.dirname(PATH))
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, PATH)
    print(f"{os.path.basename(sys.argv[0])}: section {name} of {os.path.basename(PATH)} written")


def main(argv):
    if len(argv) == 4 and argv[1] == "--take":
        try:
            with open(argv[2], encoding="utf-8") as f:
                part = sections(f.read()).get(argv[3])
        except OSError as e:
            print(f"bench_results: {argv[2]}: {e.strerror}", file=sys.stderr)
            return 1
        if not part or not section_info(argv[3]):
            print(f"bench_results: no section {argv[3]} in {argv[2]}", file=sys.stderr)
            return 1
        write(argv[3], part)
        return 0
    if len(argv) < 2 or not section_info(argv[1]):
        print(f"usage: bench_results.py {{{','.join(SECTIONS)},kernel-SERIES}} "
              "[NAME=VALUE...] < TABLES", file=sys.stderr)
        return 2
    name, knobs = argv[1], argv[2:]
    if any("=" not in k for k in knobs):
        print(f"bench_results: knobs are NAME=VALUE: {knobs}", file=sys.stderr)
        return 2
    body = sys.stdin.read()
    if not body.strip():
        print("bench_results: no tables on stdin", file=sys.stderr)
        return 1
    write(name, section_text(name, knobs, body))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
