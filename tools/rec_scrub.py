#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Replace a path prefix in a memwatch recording (and in NDJSON or text
output), so that test fixtures carry no path of the machine that made them.

  rec_scrub.py --from /where/it/was --to /src/memwatch IN.rec OUT.rec
  rec_scrub.py --from /where/it/was --to /src/memwatch --text IN.ndjson OUT.ndjson

In a recording the paths live in /proc maps text (seed, libs entries), the
LD_PRELOAD value, the allocator file of --malloc processes and the module and
source file names of recorded stacks; entry lengths are rewritten to match.
The format is user/wire/record.h's.
"""
import argparse
import struct
import sys

MAGIC = b"MWREC002"
SEED, LIBS, PRELOAD, MPROC, MSTACK = 2, 8, 9, 13, 14
FIXED = {SEED: 40, LIBS: 8, PRELOAD: 8, MPROC: 24}


def scrub_stack(data, old, new):
    pid, n = struct.unpack_from("<II", data)
    # Frames in the second layout (0x40000000): 32 fixed bytes and four names (the
    # last a build-id); else 24 bytes and three.
    named, v2, n = not (n & 0x80000000), bool(n & 0x40000000), n & 0x3FFFFFFF
    fixed, names = (32, 4) if v2 else (24, 3)
    head = 8 + 8 * n
    if not named:
        return data
    out, off = bytearray(data[:head]), head
    for _ in range(n):
        out += data[off:off + fixed]
        off += fixed
        for _ in range(names):
            end = data.index(b"\0", off)
            out += data[off:end].replace(old, new) + b"\0"
            off = end + 1
    return bytes(out)


def scrub_rec(buf, old, new):
    if buf[:8] != MAGIC:
        raise SystemExit("rec_scrub: not a memwatch recording")
    out, off = bytearray(buf[:32]), 32
    while off < len(buf):
        kind, length = struct.unpack_from("<II", buf, off)
        data = buf[off + 8:off + 8 + length]
        off += 8 + ((length + 7) & ~7)
        if kind in FIXED:
            k = FIXED[kind]
            data = data[:k] + data[k:].replace(old, new)
        elif kind == MSTACK:
            data = scrub_stack(data, old, new)
        out += struct.pack("<II", kind, len(data)) + data + b"\0" * (-len(data) % 8)
    return bytes(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="old", required=True)
    ap.add_argument("--to", dest="new", required=True)
    ap.add_argument("--text", action="store_true", help="IN is text (NDJSON or tables)")
    ap.add_argument("inp")
    ap.add_argument("out")
    a = ap.parse_args()
    buf = open(a.inp, "rb").read()
    old, new = a.old.encode(), a.new.encode()
    res = buf.replace(old, new) if a.text else scrub_rec(buf, old, new)
    open(a.out, "wb").write(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
