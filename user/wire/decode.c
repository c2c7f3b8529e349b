// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Ring-buffer record -> typed event. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "decode.h"

_Static_assert(sizeof(struct mw_hdr) == 40, "mw_hdr layout is ABI");
_Static_assert(sizeof(struct mw_syscall_rec) == 112, "mw_syscall_rec layout is ABI");
_Static_assert(sizeof(struct mw_syscall_rss_rec) == 136, "mw_syscall_rss_rec layout is ABI");
_Static_assert(sizeof(struct mw_task_rec) == 88, "mw_task_rec layout is ABI");
_Static_assert(sizeof(struct mw_thread_counters) == 3 * 8 * MW_SYS_COUNT + 8 + 24,
	       "mw_thread_counters layout is ABI");
_Static_assert(MW_SYS_COUNT == 9, "a new call changes the recording format (wire/record.h)");
_Static_assert(sizeof(struct mw_usdt_rec) == 64, "mw_usdt_rec layout is ABI");
_Static_assert(sizeof(struct mw_rss_rec) == 80, "mw_rss_rec layout is ABI");
_Static_assert(sizeof(struct mw_syscall_stack_rec) == 112 + MW_SYS_NREGS * 8 + 8,
	       "mw_syscall_stack_rec layout is ABI");
_Static_assert(sizeof(struct mw_fault_stack_rec) == 48 + MW_SYS_NREGS * 8 + 8,
	       "mw_fault_stack_rec layout is ABI");
_Static_assert(sizeof(struct mw_malloc_rec) == 56 + MW_MREGS * 8 + 8,
	       "mw_malloc_rec layout is ABI");
_Static_assert(sizeof(struct mw_mfree_rec) == 40, "mw_mfree_rec layout is ABI");

/* The malloc ring's records: a header of their own (no cpu, no comm). */
static int decode_malloc(const struct mw_decode_ctx *ctx, const void *data, size_t size,
			 struct mw_event *ev)
{
	const struct mw_mfree_rec *f = data;

	if (size < sizeof(*f) || f->fn >= MW_MFN_COUNT)
		return -EINVAL;
	memset(ev, 0, sizeof(*ev));
	ev->kind = f->type;
	ev->mono_ns = f->ts_ns;
	ev->ts_ns = f->ts_ns + ctx->mono_to_epoch_ns;
	ev->pid = f->tgid;
	ev->tid = f->tid;
	ev->mal.fn = f->fn;
	ev->mal.addr = f->addr;
	ev->mal.size = f->size;
	if (f->type == MW_MREC_ALLOC) {
		const struct mw_malloc_rec *r = data;

		if (size < sizeof(*r))
			return -EINVAL;
		ev->mal.old_addr = r->old_addr;
		ev->mal.weight = r->weight;
		memcpy(ev->mal.regs, r->regs, sizeof(ev->mal.regs));
		ev->mal.stack = (const uint8_t *)(r + 1);
		ev->mal.stack_len = (uint32_t)(size - sizeof(*r));
		if (r->stack_len < ev->mal.stack_len)
			ev->mal.stack_len = r->stack_len;
	}
	return 0;
}

/* The call of a syscall record (plain, or with a stack: the same at the start). */
static int decode_syscall(const void *data, size_t size, struct mw_event *ev)
{
	const struct mw_syscall_rec *r = data;

	if (size < sizeof(*r) || r->sys >= MW_SYS_COUNT)
		return -EINVAL;
	ev->sc.sys = r->sys;
	memcpy(ev->sc.args, r->args, sizeof(ev->sc.args));
	ev->sc.ret = r->ret;
	ev->sc.dur_ns = r->dur_ns;
	ev->sc.pages = r->pages;
	return 0;
}

/* Signed pages -> bytes; false where the product does not fit (not a count of pages). */
static bool pages_bytes(int64_t pages, uint64_t page_size, int64_t *bytes)
{
	return !__builtin_mul_overflow(pages, (int64_t)page_size, bytes);
}

/* The rss_delta at tail (the bytes after the record's fixed part and stack), if there is one:
 * the call's known effect. */
static int decode_rss_delta(const struct mw_decode_ctx *ctx, const void *tail, size_t size,
			    struct mw_event *ev)
{
	struct mw_syscall_ev *sc = &ev->sc;
	struct mw_rss_delta d;

	if (!size)
		return 0;
	if (size != sizeof(d))
		return -EINVAL;
	memcpy(&d, tail, sizeof(d)); /* after the stack bytes: maybe unaligned */
	if ((sc->sys != MW_SYS_MUNMAP && sc->sys != MW_SYS_MADVISE && sc->sys != MW_SYS_MREMAP) ||
	    !pages_bytes(d.anon, ctx->page_size, &sc->rss_anon) ||
	    !pages_bytes(d.file, ctx->page_size, &sc->rss_file) ||
	    !pages_bytes(d.shmem, ctx->page_size, &sc->rss_shmem) ||
	    __builtin_add_overflow(sc->rss_anon, sc->rss_file, &sc->rss_delta) ||
	    __builtin_add_overflow(sc->rss_delta, sc->rss_shmem, &sc->rss_delta))
		return -EINVAL;
	sc->rss_known = true;
	return 0;
}

int mw_decode(const struct mw_decode_ctx *ctx, const void *data, size_t size, struct mw_event *ev)
{
	const struct mw_hdr *h = data;

	if (size >= sizeof(__u32)) {
		switch (*(const __u32 *)data) {
		case MW_MREC_ALLOC:
		case MW_MREC_FREE:
		case MW_MREC_EXIT:
		case MW_MREC_WAKE: return decode_malloc(ctx, data, size, ev);
		}
	}
	if (size < sizeof(*h))
		return -EINVAL;
	memset(ev, 0, sizeof(*ev));
	ev->kind = h->type;
	ev->mono_ns = h->ts_ns;
	ev->ts_ns = h->ts_ns + ctx->mono_to_epoch_ns;
	ev->pid = h->tgid;
	ev->tid = h->tid;
	ev->cpu = h->cpu;
	mw_copy_comm(ev->comm, h->comm);

	switch (h->type) {
	case MW_REC_SYSCALL_STACK: {
		const struct mw_syscall_stack_rec *s = data;

		if (size < sizeof(*s) || s->stack_len > size - sizeof(*s))
			return -EINVAL;
		ev->kind = MW_EV_SYSCALL;
		ev->sc.regs = s->regs;
		ev->sc.stack = (const uint8_t *)(s + 1);
		ev->sc.stack_len = s->stack_len;
		if (decode_syscall(data, size, ev))
			return -EINVAL;
		return decode_rss_delta(ctx, ev->sc.stack + s->stack_len,
					size - sizeof(*s) - s->stack_len, ev);
	}
	case MW_REC_SYSCALL_SAME: {
		const struct mw_syscall_same_rec *s = data;

		if (size < sizeof(*s) || !s->base_ts)
			return -EINVAL;
		ev->kind = MW_EV_SYSCALL;
		ev->sc.same_ts = s->base_ts;
		ev->sc.same_ip = s->ip;
		if (decode_syscall(data, size, ev))
			return -EINVAL;
		return decode_rss_delta(ctx, s + 1, size - sizeof(*s), ev);
	}
	case MW_REC_SYSCALL:
		if (decode_syscall(data, size, ev))
			return -EINVAL;
		return decode_rss_delta(ctx, (const char *)data + sizeof(struct mw_syscall_rec),
					size - sizeof(struct mw_syscall_rec), ev);
	case MW_REC_FAULT_STACK: {
		const struct mw_fault_stack_rec *r = data;

		if (size < sizeof(*r) || r->stack_len > size - sizeof(*r) || !r->sample_n)
			return -EINVAL;
		ev->flt.addr = r->addr;
		ev->flt.sample_n = r->sample_n;
		ev->flt.regs = r->regs;
		ev->flt.stack = (const uint8_t *)(r + 1);
		ev->flt.stack_len = r->stack_len;
		return 0;
	}
	case MW_REC_USDT: {
		const struct mw_usdt_rec *r = data;

		if (size < sizeof(*r) || r->probe >= MW_USDT_COUNT)
			return -EINVAL;
		ev->usdt.probe = r->probe;
		ev->usdt.args[0] = r->args[0];
		ev->usdt.args[1] = r->args[1];
		return 0;
	}
	case MW_REC_ADOPT: {
		const struct mw_task_rec *r = data;

		if (size < sizeof(*r) ||
		    (r->child_tid != MW_ADOPT_EXEC && r->child_tid != MW_ADOPT_FORK))
			return -EINVAL;
		ev->adopt.pid = r->child_tgid;
		ev->adopt.how = r->child_tid;
		return 0;
	}
	case MW_REC_EXEC_SEEN: return size < sizeof(struct mw_task_rec) ? -EINVAL : 0;
	case MW_REC_RSS: {
		const struct mw_rss_rec *r = data;

		if (size < sizeof(*r))
			return -EINVAL;
		ev->rss.anon = r->anon * ctx->page_size;
		ev->rss.file = r->file * ctx->page_size;
		ev->rss.shmem = r->shmem * ctx->page_size;
		ev->rss.swap = r->swap * ctx->page_size;
		ev->rss.slack = r->slack * ctx->page_size;
		return 0;
	}
	case MW_REC_THREAD_NEW:
	case MW_REC_FORK:
	case MW_REC_EXEC:
	case MW_REC_EXIT:
	case MW_REC_RENAME:
	case MW_REC_EXIT_GROUP:
	case MW_REC_OOM: {
		const struct mw_task_rec *r = data;

		if (size < sizeof(*r))
			return -EINVAL;
		ev->task.child_pid = r->child_tgid;
		ev->task.child_tid = r->child_tid;
		mw_copy_comm(ev->task.child_comm, r->child_comm);
		ev->task.exit_code = r->exit_code;
		ev->task.group_dead = r->group_dead;
		ev->task.vm_bytes = r->vm_pages * ctx->page_size;
		ev->task.stack_bytes = r->stack_pages * ctx->page_size;
		return 0;
	}
	}
	return -EINVAL;
}
