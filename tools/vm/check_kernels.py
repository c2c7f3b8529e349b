#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""make check-kernels: memwatch's end-to-end tests on Debian's packaged kernels, in QEMU.

For each kernel series asked for (KERNELS="6.1 6.12" by default) it takes the newest generic
amd64 image Debian ships (`linux-image-<series>.*-amd64-unsigned`: BTF built in, 9p and virtio
as modules; the cloud flavour has no 9p), downloads it with `apt-get download` into
.output/kernels/ and unpacks it there (it is never installed as the host's kernel), builds an
initramfs of busybox-static, tools/vm/init.sh and the image's own 9p/virtio/overlay modules,
and boots it under TCG with the host's root file system shared read-only (9p) under a tmpfs
overlay: the VM runs this very tree's ./memwatch and tests. Inside, tests/e2e/run.py runs the
subset below (E2E_K="a b" to choose other -k patterns; VM_TEST_TIMEOUT per test, VM_TIMEOUT
per kernel, in seconds). It prints the tests' lines as they come, then one line per kernel and
a total:
    kernel 6.1: N passed, N failed, N skipped
    N passed, N failed
A kernel that does not boot or runs past its time counts as a failed test with its reason.
Exits 1 when a test failed.

With --bench (make bench-kernels) the VM runs tools/bench.sh's syscall part instead (knobs
ROUNDS, SPIN_N, MIX_N, RATE, RATE_SEC; smaller defaults, tools/bench_results.py's
KERNEL_DEFAULTS, so it ends in minutes under TCG), its tables become the section
kernel-SERIES of tools/bench-results.md, and the lines that compare memwatch with the floor
are printed. Under TCG absolute times mean nothing: the ratios do.
"""
import glob
import lzma
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CACHE = os.path.join(ROOT, ".output", "kernels")
sys.path.insert(0, os.path.join(ROOT, "tools"))
from bench_results import KERNEL_DEFAULTS  # noqa: E402

# The syscall ledger against its oracles (brk, mmap/munmap, mremap, shm, threads, attach),
# the raw-syscall fallback and a boot without tracefs, the exit probes' timing (task storage),
# exec, forks, ends (threads that exit with their process, in any order) and kill -9, and
# --malloc (uprobe_multi links or a uprobe per function): exact leaks, an attach mid-life, detach
# and re-attach (duty cycle), detach mid-run.
DEFAULT_K = ("strace_oracle proc_maps_oracle proc_oracle_brk concurrent_threads_exact "
             "attach_running_threads ops_syscall_deltas ops_lifecycle exit_race_every_thread_exit "
             "raw_syscall_fallback "
             "durations_with_T exec_event malloc_leaks_glibc malloc_kernel_features "
             "sysv_shm_pkey_text_matches_strace mremap_dontunmap_oracles "
             "fresh_boot_without_tracefs follow_forks sigkill_leaves_nothing "
             "malloc_attach_prealloc malloc_duty_cycle malloc_detach_mid_run")
# What the initramfs loads: the host root over virtio 9p, under an overlay.
MODULES = ["virtio_pci", "9pnet_virtio", "9p", "overlay"]
BOOT_TIMEOUT = int(os.environ.get("VM_TIMEOUT", "900"))


def die(msg):
    print(f"check-kernels: {msg}", file=sys.stderr)
    sys.exit(2)


def newest_package(series):
    """The newest generic amd64 image of a series, e.g. linux-image-6.1.0-50-amd64-unsigned."""
    pat = re.compile(r"^linux-image-" + re.escape(series) +
                     r"\.[0-9][0-9.+a-z-]*?-amd64-unsigned$")
    out = subprocess.run(["apt-cache", "search", "--names-only", f"^linux-image-{series}\\."],
                         capture_output=True, text=True, check=True).stdout
    names = [ln.split(" ")[0] for ln in out.splitlines()]
    names = [n for n in names if pat.match(n) and "-cloud-" not in n and "-rt-" not in n]
    if not names:
        die(f"no linux-image-{series}.*-amd64-unsigned in the apt lists (apt-get update?)")
    key = lambda n: [int(x) for x in re.findall(r"\d+", n)]  # noqa: E731
    return max(names, key=key)


def unpack(pkg):
    """Download and unpack pkg under CACHE; returns (release, its directory)."""
    release = pkg[len("linux-image-"):-len("-unsigned")]
    dest = os.path.join(CACHE, release)
    if os.path.exists(os.path.join(dest, ".done")):
        return release, dest
    debs = os.path.join(CACHE, "debs")
    os.makedirs(debs, exist_ok=True)
    found = glob.glob(os.path.join(debs, f"{glob.escape(pkg)}_*.deb"))
    if not found:
        print(f"  VM       apt-get download {pkg}", flush=True)
        # As root apt warns that its sandbox user cannot write here: not an error.
        r = subprocess.run(["apt-get", "download", "-q", pkg], cwd=debs,
                           capture_output=True, text=True)
        if r.returncode:
            die(f"apt-get download {pkg}: {r.stderr.strip()}")
        found = glob.glob(os.path.join(debs, f"{glob.escape(pkg)}_*.deb"))
    shutil.rmtree(dest, ignore_errors=True)
    subprocess.run(["dpkg-deb", "-x", found[0], dest], check=True)
    open(os.path.join(dest, ".done"), "w").close()
    return release, dest


def read_module(path):
    with open(path, "rb") as f:
        data = f.read()
    return lzma.decompress(data) if path.endswith(".xz") else data


def module_closure(moddir):
    """The modules MODULES need, dependencies first: (file name, contents). The package
    leaves modules.dep to its install (depmod), so the dependencies come from each module's
    own .modinfo (its depends= string); modules built into the kernel are not in the tree."""
    by_name = {}
    for path in glob.glob(os.path.join(moddir, "kernel", "**", "*.ko*"), recursive=True):
        name = re.sub(r"\.ko(\.[a-z]+)?$", "", os.path.basename(path)).replace("-", "_")
        by_name[name] = path
    order, done = [], set()

    def visit(name):
        if name in done or name not in by_name:
            return
        done.add(name)
        data = read_module(by_name[name])
        m = re.search(rb"\0depends=([^\0]*)\0", data)
        for dep in (m.group(1).decode().split(",") if m and m.group(1) else []):
            visit(dep.replace("-", "_"))
        order.append((name + ".ko", data))

    for name in MODULES:
        visit(name)
    return order


def cpio_newc(entries):
    """A newc archive of (name, mode, data) entries; data None for a directory."""
    out = bytearray()
    ino = 1
    for name, mode, data in entries + [("TRAILER!!!", 0, b"")]:
        data = data or b""
        nb = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08x}" for v in (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0))
        out += hdr.encode() + nb
        out += b"\0" * (-len(out) % 4)
        out += data
        out += b"\0" * (-len(out) % 4)
        ino += 1
    return bytes(out)


def build_initramfs(release, kdir):
    moddir = os.path.join(kdir, "lib", "modules", release)
    entries = [(d, 0o40755, None) for d in
               ("bin", "dev", "proc", "sys", "modules", "lower", "rw", "newroot")]
    try:
        with open("/bin/busybox", "rb") as f:
            busybox = f.read()
    except OSError:
        die("/bin/busybox is missing (tools/deps.sh vm installs busybox-static)")
    # The initramfs has no libc: the static build only (no program interpreter).
    if b"/lib64/ld-linux" in busybox[:4096]:
        die("/bin/busybox is dynamically linked: install busybox-static")
    entries.append(("bin/busybox", 0o100755, busybox))
    with open(os.path.join(ROOT, "tools", "vm", "init.sh"), "rb") as f:
        entries.append(("init", 0o100755, f.read()))
    names = []
    for name, data in module_closure(moddir):
        entries.append((f"modules/{name}", 0o100644, data))
        names.append(name)
    entries.append(("modules.order", 0o100644, "".join(n + "\n" for n in names).encode()))
    path = os.path.join(CACHE, f"initramfs-{release}.cpio")
    with open(path, "wb") as f:
        f.write(cpio_newc(entries))
    return path


RUN_SH = """#!/bin/sh
# Written by tools/vm/check_kernels.py; run by tools/vm/init.sh inside the VM.
cd {root} || exit 1
echo "vm: Linux $(uname -r)"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
( {cmd} ) > /vmout/e2e.log 2>&1 &
pid=$!
tail -f /vmout/e2e.log --pid=$pid 2>/dev/null | grep --line-buffered -E '^(PASS|FAIL|SKIP) |^  e2e:|^bench'
wait $pid
echo $? > /vmout/e2e.rc
"""


def bench_cmd(series):
    """tools/bench.sh's syscall part, its section written to a copy of the results file on the
    writable share (the tree is read-only in the VM)."""
    knobs = " ".join(f"{k}={os.environ.get(k, v)}" for k, v in KERNEL_DEFAULTS.items())
    return ("cp tools/bench-results.md /vmout/bench-results.md && "
            f"BENCH_RESULTS=/vmout/bench-results.md BENCH_SECTION=kernel-{series} "
            f"BENCH_ONLY=syscalls {knobs} sh tools/bench.sh")


def take_bench(series, release):
    """The VM's section into tools/bench-results.md, and the lines that compare memwatch with
    the floor; a failed run's log tail instead."""
    out = os.path.join(CACHE, f"run-{release}")
    rc_path = os.path.join(out, "e2e.rc")
    rc = open(rc_path).read().strip() if os.path.exists(rc_path) else "none"
    if rc != "0":
        with open(os.path.join(out, "e2e.log"), errors="replace") as f:
            tail = f.read()[-1500:]
        print(f"[{series}] bench failed (status {rc}):\n{tail}", flush=True)
        return False
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "bench_results.py"),
                        "--take", os.path.join(out, "bench-results.md"), f"kernel-{series}"])
    if r.returncode:
        return False
    with open(os.path.join(out, "e2e.log"), errors="replace") as f:
        for ln in f:
            if "floor's" in ln or ln.startswith(("memwatch bench:", "    (not")):
                print(f"[{series}] {ln.rstrip()}", flush=True)
    return True


def boot(series, release, kdir, initrd, ks, bench=False):
    out = os.path.join(CACHE, f"run-{release}")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    with open(os.path.join(out, "run.sh"), "w") as f:
        per_test = int(os.environ.get("VM_TEST_TIMEOUT", "240"))
        # VM_CMD: another command in the VM instead (for work on this script itself).
        cmd = bench_cmd(series) if bench else os.environ.get("VM_CMD") or \
            f"/usr/bin/python3 tests/e2e/run.py -v -t {per_test} " + \
            " ".join(f"-k {k}" for k in ks)
        f.write(RUN_SH.format(root=ROOT, cmd=cmd))
    vmlinuz = os.path.join(kdir, "boot", f"vmlinuz-{release}")
    cmd = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-smp", "2", "-m", "2048",
           "-nodefaults", "-display", "none", "-serial", "stdio", "-no-reboot",
           "-kernel", vmlinuz, "-initrd", initrd,
           "-append", "console=ttyS0 loglevel=4 panic=-1 oops=panic mitigations=off",
           "-virtfs", "local,path=/,mount_tag=root,security_model=none,readonly=on,multidevs=remap",
           "-virtfs", f"local,path={out},mount_tag=vmout,security_model=none"]
    t0 = time.monotonic()
    print(f"  VM       Linux {release} (TCG)", flush=True)
    with open(os.path.join(out, "console.log"), "wb") as log:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
        timed_out = False
        deadline = t0 + BOOT_TIMEOUT
        os.set_blocking(p.stdout.fileno(), False)
        buf = b""
        while p.poll() is None or buf:
            chunk = None
            try:
                chunk = p.stdout.read()
            except BlockingIOError:
                pass
            if chunk:
                log.write(chunk)
                log.flush()
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for ln in lines:
                    s = ln.decode(errors="replace").rstrip("\r")
                    if re.match(r"(PASS|FAIL|SKIP) |  e2e:|vm:|vm-init:|bench", s):
                        print(f"[{series}] {s}", flush=True)
            elif p.poll() is not None:
                break
            else:
                time.sleep(0.2)
            if time.monotonic() > deadline and p.poll() is None:
                timed_out = True
                p.kill()
        p.wait()
    secs = time.monotonic() - t0
    lines = []
    if os.path.exists(os.path.join(out, "e2e.log")):
        with open(os.path.join(out, "e2e.log"), errors="replace") as f:
            lines = [ln.rstrip("\n") for ln in f if re.match(r"(PASS|FAIL|SKIP) ", ln)]
    if timed_out:
        lines.append(f"FAIL vm/{series}: still running after {BOOT_TIMEOUT} s (VM_TIMEOUT)")
    elif not os.path.exists(os.path.join(out, "e2e.rc")):
        lines.append(f"FAIL vm/{series}: the VM stopped before the tests ended (QEMU exit "
                     f"status {p.returncode}; see {out}/console.log)")
    return lines, secs


def main():
    args = sys.argv[1:]
    bench = "--bench" in args
    args = [a for a in args if a != "--bench"]
    series_list = (args or os.environ.get("KERNELS", "6.1 6.12").split())
    ks = os.environ.get("E2E_K", DEFAULT_K).split()
    for tool in ("qemu-system-x86_64", "apt-get", "dpkg-deb"):
        if not shutil.which(tool):
            die(f"{tool} is missing (tools/deps.sh installs qemu-system-x86 and busybox-static)")
    if not os.path.exists(os.path.join(ROOT, "memwatch")):
        die("./memwatch is not built")
    os.makedirs(CACHE, exist_ok=True)
    totals = [0, 0, 0]
    summary = []
    for series in series_list:
        if not re.fullmatch(r"\d+\.\d+", series):
            die(f"KERNELS: {series!r} is not a kernel series like 6.1")
        release, kdir = unpack(newest_package(series))
        initrd = build_initramfs(release, kdir)
        lines, secs = boot(series, release, kdir, initrd, ks, bench)
        if bench:
            for ln in lines:
                print(f"[{series}] {ln}", flush=True)
            ok = take_bench(series, release) and not lines
            totals[0 if ok else 1] += 1
            summary.append(f"kernel {series}: bench {'written' if ok else 'FAILED'} "
                           f"(Linux {release}, {secs:.0f} s)")
            continue
        n = [sum(ln.startswith(w) for ln in lines) for w in ("PASS ", "FAIL ", "SKIP ")]
        for ln in lines:
            if ln.startswith("FAIL vm/"):
                print(f"[{series}] {ln}", flush=True)
        totals = [a + b for a, b in zip(totals, n)]
        summary.append(f"kernel {series}: {n[0]} passed, {n[1]} failed, {n[2]} skipped "
                       f"(Linux {release}, {secs:.0f} s)")
    for s in summary:
        print(s)
    if bench:
        return 1 if totals[1] else 0
    print(f"{totals[0]} passed, {totals[1]} failed" +
          (f", {totals[2]} skipped" if totals[2] else ""))
    return 1 if totals[1] else 0


if __name__ == "__main__":
    sys.exit(main())
