// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Recording format: see record.h. */
#include <errno.h>
#include <string.h>
#include "record.h"

_Static_assert(sizeof(struct mw_record_header) == 32, "recording header is a file format");
_Static_assert(sizeof(struct mw_seed_entry) == 40, "seed entry is a file format");
_Static_assert(sizeof(struct mw_counters_entry) == 256, "counters entry is a file format");
_Static_assert(sizeof(struct mw_resident_entry) == 40, "resident entry is a file format");
_Static_assert(sizeof(struct mw_counters_entry_v2) == 160, "MWREC002 counters entry");
_Static_assert(sizeof(struct mw_thread_entry) == 24, "thread entry is a file format");

#define MAX_ENTRY (64U << 20)

int mw_record_begin(FILE *f, uint64_t page_size, int64_t mono_to_epoch_ns)
{
	struct mw_record_header h = {
		.page_size = page_size,
		.mono_to_epoch_ns = mono_to_epoch_ns,
	};

	memcpy(h.magic, MW_RECORD_MAGIC, sizeof(h.magic));
	return fwrite(&h, sizeof(h), 1, f) == 1 ? 0 : -EIO;
}

int mw_record_put(FILE *f, uint32_t kind, const void *a, size_t alen, const void *b, size_t blen)
{
	static const char zeros[8];
	size_t len = alen + blen;
	__u32 head[2] = { kind, (__u32)len };

	if (len > MAX_ENTRY)
		return -E2BIG;
	if (fwrite(head, sizeof(head), 1, f) != 1 || (alen && fwrite(a, alen, 1, f) != 1) ||
	    (blen && fwrite(b, blen, 1, f) != 1) ||
	    ((len & 7) && fwrite(zeros, 8 - (len & 7), 1, f) != 1))
		return -EIO;
	return 0;
}

int mw_replay_init(struct mw_replay *r, const void *buf, size_t len)
{
	memset(r, 0, sizeof(*r));
	if (len < sizeof(r->hdr))
		return -EINVAL;
	memcpy(&r->hdr, buf, sizeof(r->hdr));
	if (!memcmp(r->hdr.magic, MW_RECORD_MAGIC, sizeof(r->hdr.magic)))
		r->version = 3;
	else if (!memcmp(r->hdr.magic, MW_RECORD_MAGIC_V2, sizeof(r->hdr.magic)))
		r->version = 2;
	if (!r->version || !r->hdr.page_size || (r->hdr.page_size & (r->hdr.page_size - 1)))
		return -EINVAL;
	r->buf = buf;
	r->len = len;
	r->off = sizeof(r->hdr);
	return 0;
}

/* Six calls' counters into the current layout; the calls added since are zero. */
static int convert_counters_v2(struct mw_replay *r, struct mw_entry *e)
{
	struct mw_counters_entry_v2 old;
	struct mw_counters_entry *c = &r->conv;

	if (e->len != sizeof(old))
		return -EINVAL;
	memcpy(&old, e->data, sizeof(old));
	memset(c, 0, sizeof(*c));
	c->tid = old.tid;
	c->c.tgid = old.tgid;
	memcpy(c->c.calls, old.calls, sizeof(old.calls));
	memcpy(c->c.errors, old.errors, sizeof(old.errors));
	memcpy(c->c.dur_ns, old.dur_ns, sizeof(old.dur_ns));
	e->len = sizeof(*c);
	e->data = c;
	return 1;
}

/* A counters entry from before the fault counters (len: theirs are unknown, flags 0) or
 * before the lost fault samples (flag MW_TC_FAULT_LOST clear: unknown). */
static int convert_counters_short(struct mw_replay *r, struct mw_entry *e)
{
	memset(&r->conv, 0, sizeof(r->conv));
	memcpy(&r->conv, e->data, e->len);
	if (e->len == MW_COUNTERS_ENTRY_V3_LEN)
		r->conv.c.flags = 0;
	r->conv.c.flags &= ~MW_TC_FAULT_LOST;
	e->len = sizeof(r->conv);
	e->data = &r->conv;
	return 1;
}

int mw_replay_next(struct mw_replay *r, struct mw_entry *e)
{
	__u32 head[2];
	size_t padded;

	if (r->off == r->len)
		return 0;
	if (r->len - r->off < sizeof(head))
		return -EINVAL;
	memcpy(head, r->buf + r->off, sizeof(head));
	padded = ((size_t)head[1] + 7) & ~(size_t)7;
	if (head[1] > MAX_ENTRY || r->len - r->off - sizeof(head) < padded)
		return -EINVAL;
	e->kind = head[0];
	e->len = head[1];
	e->data = r->buf + r->off + sizeof(head);
	r->off += sizeof(head) + padded;
	if (r->version == 2 && e->kind == MW_ENTRY_COUNTERS)
		return convert_counters_v2(r, e);
	if (e->kind == MW_ENTRY_COUNTERS &&
	    (e->len == MW_COUNTERS_ENTRY_V3_LEN || e->len == MW_COUNTERS_ENTRY_V4_LEN))
		return convert_counters_short(r, e);
	return 1;
}
