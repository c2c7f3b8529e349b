// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* --replay: feed a recording through the same session code as a live run. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include "base/grow.h"
#include "wire/record.h"
#include "session/session.h"
#include "base/errmsg.h"
#include "replay.h"

struct recorded_counters {
	struct mw_counters_entry *v;
	size_t n, cap;
};

/* The kernel's counters were recorded when they were read (after each exit):
 * collect them first so a process's summary finds them when its exit replays. */
static int collect(const struct mw_replay *in, struct recorded_counters *rc)
{
	struct mw_replay r = *in;
	struct mw_entry e;
	int ret;

	while ((ret = mw_replay_next(&r, &e)) == 1) {
		if (e.kind != MW_ENTRY_COUNTERS || e.len != sizeof(struct mw_counters_entry))
			continue;
		if (mw_grow(&rc->v, rc->n, &rc->cap, sizeof(*rc->v), 64))
			return -ENOMEM;
		memcpy(&rc->v[rc->n++], e.data, sizeof(*rc->v));
	}
	return ret;
}

static int recorded_lookup(void *ctx, uint32_t tid, struct mw_thread_counters *c, bool forget)
{
	struct recorded_counters *rc = ctx;

	(void)forget;
	for (size_t i = rc->n; i-- > 0;) {
		if (rc->v[i].tid == tid) {
			*c = rc->v[i].c;
			return 0;
		}
	}
	return -ENOENT;
}

static int replay_entry(struct mw_session *s, const struct mw_entry *e, uint64_t *last_ts)
{
	switch (e->kind) {
	case MW_ENTRY_RING:
		if (e->len >= sizeof(struct mw_hdr))
			*last_ts = ((const struct mw_hdr *)e->data)->ts_ns + s->dctx.mono_to_epoch_ns;
		return mw_session_record(s, e->data, e->len);
	case MW_ENTRY_SEED: {
		const struct mw_seed_entry *se = e->data;
		char *text;
		int err;

		if (e->len < sizeof(*se))
			return -EINVAL;
		text = strndup((const char *)(se + 1), e->len - sizeof(*se));
		if (!text)
			return -ENOMEM;
		err = mw_session_seed(s, se->pid, text, se->start_brk, se->vm_size, se->stack_size, se->snap_end_ns,
				      se->resync);
		free(text);
		return err;
	}
	case MW_ENTRY_THREAD: {
		struct mw_thread_entry te;

		if (e->len != sizeof(te))
			return -EINVAL;
		memcpy(&te, e->data, sizeof(te));
		te.comm[MW_COMM_LEN - 1] = '\0';
		mw_session_thread_name(s, te.pid, te.tid, te.comm);
		return 0;
	}
	case MW_ENTRY_LOST:
		if (e->len != sizeof(__u64))
			return -EINVAL;
		mw_session_lost(s, *last_ts, *(const __u64 *)e->data);
		return 0;
	case MW_ENTRY_GONE: {
		const struct mw_gone_entry *ge = e->data;

		if (e->len != sizeof(*ge))
			return -EINVAL;
		mw_session_gone(s, ge->pid, ge->status);
		return 0;
	}
	case MW_ENTRY_VMSIZE: {
		const struct mw_vmsize_entry *ve = e->data;

		if (e->len != sizeof(*ve))
			return -EINVAL;
		mw_session_vmsize(s, ve->pid, ve->vm_size, ve->stack_size);
		return 0;
	}
	case MW_ENTRY_LIBS:
	case MW_ENTRY_PRELOAD: {
		char *text;

		if (e->len < 8)
			return -EINVAL;
		text = strndup((const char *)e->data + 8, e->len - 8);
		if (!text)
			return -ENOMEM;
		if (e->kind == MW_ENTRY_LIBS)
			mw_session_libs(s, *(const __u32 *)e->data, text);
		else
			mw_session_preload(s, *(const __u32 *)e->data, text);
		free(text);
		return 0;
	}
	case MW_ENTRY_ARENA_LIMIT:
		if (e->len != 8)
			return -EINVAL;
		mw_session_arena_limit(s, ((const __u32 *)e->data)[0],
				       (int)((const __u32 *)e->data)[1]);
		return 0;
	case MW_ENTRY_COUNTERS:
		return 0;	/* collected up front */
	}
	return 0;	/* kinds from newer versions are skipped */
}

int mw_replay_run(const struct mw_config *cfg)
{
	struct recorded_counters rc = {};
	struct mw_session s;
	struct mw_replay r;
	struct mw_entry e;
	uint64_t last_ts = 0;
	void *buf = MAP_FAILED;
	struct stat st;
	FILE *out = stderr;
	int fd, ret = 1, err;

	fd = open(cfg->replay_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		mw_p_err("cannot open %s: %s", cfg->replay_path, strerror(errno));
		goto out_fd;
	}
	if (st.st_size > 0)
		buf = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (buf == MAP_FAILED || mw_replay_init(&r, buf, (size_t)st.st_size)) {
		mw_p_err("%s is not a memwatch recording", cfg->replay_path);
		goto out_map;
	}
	err = collect(&r, &rc);
	if (err) {
		mw_p_err("%s: %s", cfg->replay_path,
			 err == -ENOMEM ? "out of memory" : "truncated or corrupt recording");
		goto out_map;
	}
	if (cfg->out_path && !(out = fopen(cfg->out_path, "w"))) {
		mw_p_err("cannot open %s: %s", cfg->out_path, strerror(errno));
		out = stderr;
		goto out_map;
	}
	mw_session_init(&s, cfg, out, r.hdr.page_size, r.hdr.mono_to_epoch_ns);
	s.counters = recorded_lookup;
	s.src_ctx = &rc;
	while ((err = mw_replay_next(&r, &e)) == 1) {
		err = replay_entry(&s, &e, &last_ts);
		if (err)
			break;
	}
	if (err) {
		mw_p_err("%s: %s", cfg->replay_path,
			 err == -ENOMEM ? "out of memory" : "truncated or corrupt recording");
	} else {
		mw_session_report_all(&s, true);
		ret = 0;
	}
	mw_session_free(&s);
	fflush(out);
	if (out != stderr)
		fclose(out);
out_map:
	if (buf != MAP_FAILED)
		munmap(buf, (size_t)st.st_size);
	free(rc.v);
out_fd:
	if (fd >= 0)
		close(fd);
	return ret;
}
