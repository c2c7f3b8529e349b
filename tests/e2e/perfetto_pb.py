# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A reader of the Perfetto traces memwatch writes, independent of memwatch's code: the
protobuf wire format decoded by hand (varints and length-delimited fields), with the field
numbers of Perfetto's public trace format. Python 3 stdlib only."""


def varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return v, i


def fields(b):
    """{field number: [values]} of one message: ints for varints, bytes for the rest."""
    out, i = {}, 0
    while i < len(b):
        key, i = varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt == 1:
            v, i = int.from_bytes(b[i:i + 8], "little"), i + 8
        elif wt == 5:
            v, i = int.from_bytes(b[i:i + 4], "little"), i + 4
        else:
            raise ValueError(f"wire type {wt} at {i}")
        out.setdefault(num, []).append(v)
    return out


def one(f, num, default=None):
    return f[num][-1] if num in f else default


def signed(v):
    return v - (1 << 64) if v >= 1 << 63 else v


def read(path):
    """-> (tracks {uuid: dict}, events [dict]) of a trace file."""
    data = open(path, "rb").read()
    tracks, events = {}, []
    for pk in fields(data).get(1, []):
        p = fields(pk)
        if 60 in p:
            d = fields(one(p, 60))
            t = {"uuid": one(d, 1), "parent": one(d, 5), "name": one(d, 2, b"").decode()}
            if 3 in d:
                pd = fields(one(d, 3))
                t["pid"] = one(pd, 1)
                t["process_name"] = one(pd, 6, b"").decode()
            if 4 in d:
                td = fields(one(d, 4))
                t["pid"], t["tid"] = one(td, 1), one(td, 2)
                t["thread_name"] = one(td, 5, b"").decode()
            if 8 in d:
                t["counter_unit"] = one(fields(one(d, 8)), 3)
            tracks.setdefault(t["uuid"], {}).update(t)
        if 11 in p:
            e = fields(one(p, 11))
            ev = {"ts": one(p, 8), "type": one(e, 9), "track": one(e, 11),
                  "name": one(e, 23, b"").decode(), "args": {}}
            if 30 in e:
                ev["value"] = signed(one(e, 30))
            for a in e.get(4, []):
                af = fields(a)
                name = one(af, 10, b"").decode()
                ev["args"][name] = one(af, 6).decode() if 6 in af else one(af, 3)
            events.append(ev)
    return tracks, events
