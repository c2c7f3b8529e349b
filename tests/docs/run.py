#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Documentation tests: the README and the manual against the code. No root needed; needs
./memwatch built (make check builds it first) and scdoc (tools/deps.sh installs it).
Prints exactly one line per check:
    PASS docs/<name>        FAIL docs/<name>: <reason>
and exits 1 when a check failed.

usage: run.py [-v]      (-v: the whole list behind a failure, on lines starting with two spaces)
"""
import glob
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
MEMWATCH = os.path.join(ROOT, "memwatch")
MANPAGE = os.path.join(ROOT, "user", "memwatch.8.scd")
README = os.path.join(ROOT, "README.md")
README_MAX_LINES = 400

# Options of other programs that the manual may name in its prose (systemctl enable --now).
FOREIGN_OPTIONS = {"--now"}

VERBOSE = "-v" in sys.argv[1:]


class Fail(Exception):
    def __init__(self, reason, details=()):
        super().__init__(reason)
        self.details = list(details)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=60, **kw)


# ---------------------------------------------------------------- options

OPT_LINE = re.compile(r"^\s+(?:(-[A-Za-z0-9])(?:,\s*|\s+|$))?(--[a-z][a-z0-9-]*)?")
OPT_TOKEN = re.compile(r"(?<![\w-])(--?[A-Za-z][A-Za-z0-9-]*)")


def help_options():
    """[(short, long)] from the option lines of `memwatch --help` and the options in the usage
    line of `memwatch maps --help` (short or long may be None)."""
    if not os.access(MEMWATCH, os.X_OK):
        raise Fail(f"{os.path.relpath(MEMWATCH, ROOT)} is not built (run make memwatch)")
    entries = []
    r = run([MEMWATCH, "--help"])
    if r.returncode != 0 or "Usage:" not in r.stdout:
        raise Fail(f"memwatch --help exited {r.returncode}: {r.stderr.strip()[:200]!r}")
    for line in r.stdout.splitlines():
        if not line.startswith(" ") or not line.strip().startswith("-"):
            continue
        m = OPT_LINE.match(line)
        if m and (m.group(1) or m.group(2)):
            entries.append((m.group(1), m.group(2)))
    r = run([MEMWATCH, "maps", "--help"])
    if r.returncode != 0 or "Usage:" not in r.stdout:
        raise Fail(f"memwatch maps --help exited {r.returncode}: {r.stderr.strip()[:200]!r}")
    usage = r.stdout.splitlines()[0]
    for tok in OPT_TOKEN.findall(usage):
        entries.append((tok, None) if not tok.startswith("--") else (None, tok))
    if len(entries) < 20:
        raise Fail(f"only {len(entries)} options found in --help: has its format changed?")
    return entries


def manpage_headings(text):
    """[(line number, [options])] of the manual's option headings: lines that start with a
    bold option (`*-p*, *--pid* _PID_`), options in bold at the start of the line."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.startswith("*-"):
            continue
        opts = []
        for m in re.finditer(r"\*(--?[A-Za-z][A-Za-z0-9-]*)(?: -)?\*", line):
            opts.append(m.group(1))
        if opts:
            out.append((n, opts))
    return out


def check_options_documented():
    """Every option of --help, long and short, has a heading in the manual, paired as in
    --help; every heading names options that --help prints; every --word in the manual is one."""
    entries = help_options()
    text = read(MANPAGE)
    headings = manpage_headings(text)
    documented = {o for _, opts in headings for o in opts}
    known = {o for e in entries for o in e if o}
    problems = []
    for short, long in entries:
        for o in (short, long):
            if o and o not in documented:
                problems.append(f"{o} (in --help) has no heading in the manual")
        if short and long and not any(short in opts and long in opts for _, opts in headings):
            problems.append(f"no heading pairs {short} with {long} as --help does")
    for n, opts in headings:
        for o in opts:
            if o not in known:
                problems.append(f"line {n}: {o} is documented but not in --help")
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith(";"):
            continue
        for tok in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", line):
            if tok not in known and tok not in FOREIGN_OPTIONS:
                problems.append(f"line {n}: {tok} is not an option of memwatch")
    if problems:
        raise Fail(f"{len(problems)} problem(s), first: {problems[0]}", problems)


# ---------------------------------------------------------------- manual builds

def check_manpage_builds():
    """scdoc turns the manual into roff without an error or a warning; groff, where present,
    formats it without a warning."""
    scdoc = shutil.which("scdoc")
    if not scdoc:
        raise Fail("scdoc is not installed (tools/deps.sh installs it: run make deps)")
    with open(MANPAGE, "rb") as f:
        r = subprocess.run([scdoc], stdin=f, capture_output=True, timeout=60)
    err = r.stderr.decode(errors="replace").strip()
    if r.returncode != 0 or err:
        raise Fail(f"scdoc exited {r.returncode}: {err[:300]!r}")
    if not r.stdout.startswith(b".\\\" Generated by scdoc"):
        raise Fail("scdoc's output does not look like a man page")
    groff = shutil.which("groff")
    if groff:
        g = subprocess.run([groff, "-man", "-Tutf8", "-ww", "-z"], input=r.stdout,
                           capture_output=True, timeout=60)
        gerr = g.stderr.decode(errors="replace").strip()
        if g.returncode != 0 or gerr:
            raise Fail(f"groff warns about the generated page: {gerr[:300]!r}")


# ---------------------------------------------------------------- README size

def check_readme_length():
    """The README is a front page: at most README_MAX_LINES lines."""
    n = len(read(README).splitlines())
    if n > README_MAX_LINES:
        raise Fail(f"README.md has {n} lines, more than {README_MAX_LINES}: move detail to "
                   "the manual (user/memwatch.8.scd)")


# ---------------------------------------------------------------- machine paths

MACHINE_PATHS = [
    (re.compile(r"(?<![\w.~-])/(?:root|home|Users)/[\w.-]"), "a home directory"),
    (re.compile(r"(?<![\w.~-])/work/"), "a development checkout (/work/)"),
    (re.compile(r"(?<![\w.~-])/tmp/tmp[\w-]{6,}"), "a mktemp name"),
    (re.compile(r"(?<![\w.~-])/tmp/\w+\.\d{3,}\b"), "a temporary name with a pid"),
    (re.compile(r"(?<![\w.~-])/(?:[\w.+-]+/)+\.output/"), "an absolute path into a build tree"),
    (re.compile(r"(?<![\w.~-])/(?:[\w.+-]+/)*wt[-/][\w.-]+/"), "a git worktree"),
]


def documents():
    """The documents of the tree: every tracked or untracked-but-not-ignored *.md and *.scd,
    and the shipped configuration, unit and fleet files."""
    names = set()
    r = run(["git", "-C", ROOT, "ls-files", "-co", "--exclude-standard"])
    if r.returncode == 0:
        files = r.stdout.splitlines()
    else:
        files = [os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "**", "*"),
                                                             recursive=True)]
    for f in files:
        if not os.path.isfile(os.path.join(ROOT, f)):
            continue
        if (f.endswith((".md", ".scd")) or re.fullmatch(r"tools/[^/]+\.(conf|service)", f)
                or f.startswith("tools/fleet/")):
            names.add(f)
    for must in ("README.md", "user/memwatch.8.scd", "tools/memwatch.conf",
                 "tools/memwatch.service"):
        if must not in names:
            raise Fail(f"{must} not found among the documents")
    return sorted(names)


def check_no_machine_paths():
    """No document names a path that exists only on a developer's machine."""
    problems = []
    for f in documents():
        for n, line in enumerate(read(os.path.join(ROOT, f)).splitlines(), 1):
            for pat, what in MACHINE_PATHS:
                m = pat.search(line)
                if m:
                    problems.append(f"{f}:{n}: {what}: {line.strip()[:120]!r}")
    if problems:
        raise Fail(f"{len(problems)} machine-specific path(s), first: {problems[0]}", problems)


# ---------------------------------------------------------------- README paths

def readme_paths(text):
    """(line, path) for every repository path the README names in backticks: a span whose first
    component is a top-level file or directory of the repository."""
    top = {p for p in os.listdir(ROOT) if not p.startswith(".") or p == ".ci"}
    top -= {"memwatch"}   # the built binary, not a source path
    out = []
    in_block = False
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            in_block = not in_block
            continue
        if in_block:
            continue
        for span in re.findall(r"`([^`]+)`", line):
            span = span.strip()
            if not re.fullmatch(r"\.?[\w.-]+(?:/[\w.*-]*)*", span):
                continue
            first = span.split("/")[0]
            if first in top and ("/" in span or os.path.isfile(os.path.join(ROOT, span))):
                out.append((n, span.rstrip("/")))
    return out


def check_readme_paths_exist():
    """Every repository path in the README's backticks exists."""
    problems = []
    paths = readme_paths(read(README))
    if not paths:
        raise Fail("the README names no repository path: is the pattern broken?")
    for n, p in paths:
        if not glob.glob(os.path.join(ROOT, p)) and not glob.glob(os.path.join(ROOT, p + ".*")):
            # (a program may be named after its source: tests/workloads/churn for churn.c)
            problems.append(f"line {n}: {p} does not exist")
    if problems:
        raise Fail(f"{len(problems)} problem(s), first: {problems[0]}", problems)


CHECKS = [
    ("options_documented", check_options_documented),
    ("manpage_builds", check_manpage_builds),
    ("readme_length", check_readme_length),
    ("no_machine_paths", check_no_machine_paths),
    ("readme_paths_exist", check_readme_paths_exist),
]


def one_line(s, limit=600):
    s = " | ".join(x.strip() for x in str(s).splitlines() if x.strip())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def main():
    failed = 0
    for name, fn in CHECKS:
        try:
            fn()
            print(f"PASS docs/{name}", flush=True)
        except Fail as e:
            failed += 1
            print(f"FAIL docs/{name}: {one_line(e)}", flush=True)
            if VERBOSE:
                for d in e.details:
                    print(f"  {d}", flush=True)
        except Exception as e:  # a bug here is a failure of the check, reported as one line
            failed += 1
            print(f"FAIL docs/{name}: {type(e).__name__}: {one_line(e)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
