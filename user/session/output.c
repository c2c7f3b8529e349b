// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Text and NDJSON sinks. */
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include "ledger/format.h"
#include "ledger/totals.h"
#include "base/json.h"
#include "base/text.h"
#include "alloc/diagnose.h"
#include "output.h"

#define ARGBUF 512

/* A name a traced process chose, as the text output prints it (base/text.h): quoted and
 * escaped unless every character is printable, so no name forges a line. */
struct qname {
	char s[MW_TEXT_ROOM(MW_COMM_LEN)];
};

static const char *qcomm(struct qname *q, const char *comm)
{
	return mw_text_quote(q->s, sizeof(q->s), comm, MW_COMM_LEN);
}

/* ---------- events ---------- */

static void text_prefix(struct mw_output *o, const struct mw_event *ev)
{
	char clk[32];
	struct qname q;

	mw_fmt_clock(clk, sizeof(clk), ev->ts_ns);
	fprintf(o->f, "%s [%" PRIu32 "/%" PRIu32 " %s] ", clk, ev->pid, ev->tid,
		qcomm(&q, ev->comm));
}

/* As strace -k prints a stack: innermost first. Symbol and file names come from the
 * target's own files: escaped, so a name cannot forge a line. */
static void text_stack(struct mw_output *o)
{
	char qf[MW_TEXT_ROOM(256)], qm[MW_TEXT_ROOM(1024)];

	for (size_t i = 0; i < o->nframes; i++) {
		const struct mw_sframe *f = &o->frames[i];

		fprintf(o->f, " > %s(",
			f->module ? mw_text_quote(qm, sizeof(qm), f->module, 1024) : "?");
		if (f->func)
			fprintf(o->f, "%s+%#" PRIx64, mw_text_quote(qf, sizeof(qf), f->func, 256),
				f->offset);
		fprintf(o->f, ") [%#" PRIx64 "]\n", f->addr);
	}
}

void mw_json_sframe(struct mw_json *j, const struct mw_sframe *f)
{
	mw_json_obj_begin(j, NULL);
	mw_json_addr(j, "addr", f->addr);
	if (f->func) {
		mw_json_str(j, "func", f->func);
		mw_json_uint(j, "offset", f->offset);
	}
	if (f->module)
		mw_json_str(j, "module", f->module);
	mw_json_obj_end(j);
}

void mw_json_sframes(struct mw_json *j, const struct mw_sframe *f, size_t n)
{
	mw_json_arr_begin(j, "stack");
	for (size_t i = 0; i < n; i++)
		mw_json_sframe(j, &f[i]);
	mw_json_arr_end(j);
}

static void json_stack(struct mw_json *j, const struct mw_output *o)
{
	if (o->nframes)
		mw_json_sframes(j, o->frames, o->nframes);
}

static void text_syscall(struct mw_output *o, const struct mw_event *ev, const struct mw_apply *a)
{
	char args[ARGBUF], ret[128], delta[32];

	mw_fmt_syscall_args(args, sizeof(args), &ev->sc);
	mw_fmt_syscall_ret(ret, sizeof(ret), &ev->sc);
	text_prefix(o, ev);
	fprintf(o->f, "%s(%s) = %s", mw_sys_name(ev->sc.sys), args, ret);
	if (o->show_dur)
		fprintf(o->f, " <%" PRIu64 ".%06" PRIu64 ">", ev->sc.dur_ns / 1000000000,
			ev->sc.dur_ns / 1000 % 1000000);
	if (a->vm_delta) {
		mw_fmt_delta(delta, sizeof(delta), a->vm_delta);
		fprintf(o->f, " vm%s", delta);
	}
	if (ev->sc.rss_known) {
		mw_fmt_delta(delta, sizeof(delta), ev->sc.rss_delta);
		fprintf(o->f, " rss%s", delta);
	}
	fputc('\n', o->f);
	text_stack(o);
}

static void describe_exit(char *buf, size_t sz, int status)
{
	if (WIFSIGNALED(status))
		snprintf(buf, sz, "killed by %s",
			 sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status))
							: "signal");
	else
		snprintf(buf, sz, "exited with %d", WEXITSTATUS(status));
}

static void text_task(struct mw_output *o, const struct mw_event *ev, const struct mw_apply *a)
{
	char what[64];
	struct qname q;

	switch (ev->kind) {
	case MW_EV_THREAD_NEW:
		text_prefix(o, ev);
		fprintf(o->f, "+++ thread %" PRIu32 " created +++\n", ev->task.child_tid);
		break;
	case MW_EV_FORK:
		text_prefix(o, ev);
		fprintf(o->f, "+++ forked child %" PRIu32 " +++\n", ev->task.child_pid);
		break;
	case MW_EV_EXEC:
		text_prefix(o, ev);
		fprintf(o->f, "+++ exec %s +++\n", qcomm(&q, ev->comm));
		break;
	case MW_EV_EXIT:
		text_prefix(o, ev);
		if (a->proc_exited) {
			describe_exit(what, sizeof(what), ev->task.exit_code);
			fprintf(o->f, "+++ %s +++\n", what);
		} else {
			fprintf(o->f, "+++ thread exited +++\n");
		}
		break;
	case MW_EV_USDT:
		text_prefix(o, ev);
		fprintf(o->f, "*** libc:%s(0x%" PRIx64 ", %" PRIu64 ") ***\n",
			mw_usdt_name(ev->usdt.probe), ev->usdt.args[0], ev->usdt.args[1]);
		break;
	case MW_EV_RENAME:
		text_prefix(o, ev);
		/* Always quoted, as before: plain names get quotes here. */
		if (mw_text_plain(ev->task.child_comm, MW_COMM_LEN))
			fprintf(o->f, "--- thread %" PRIu32 " renamed to \"%.16s\" ---\n",
				ev->task.child_tid, ev->task.child_comm);
		else
			fprintf(o->f, "--- thread %" PRIu32 " renamed to %s ---\n",
				ev->task.child_tid, qcomm(&q, ev->task.child_comm));
		break;
	default: break;
	}
}

static void json_head(struct mw_json *j, const char *type, uint64_t ts_ns, uint32_t pid)
{
	mw_json_str(j, "type", type);
	mw_json_uint(j, "ts_ns", ts_ns);
	mw_json_uint(j, "pid", pid);
}

static void json_event_head(struct mw_json *j, const char *type, const struct mw_event *ev)
{
	json_head(j, type, ev->ts_ns, ev->pid);
	mw_json_uint(j, "tid", ev->tid);
	mw_json_str(j, "comm", ev->comm);
}

static void json_args(struct mw_json *j, const struct mw_syscall_ev *sc)
{
	char buf[256];
	const uint64_t *a = sc->args;

	mw_json_obj_begin(j, "args");
	switch (sc->sys) {
	case MW_SYS_BRK: mw_json_addr(j, "addr", a[0]); break;
	case MW_SYS_MMAP:
		mw_json_addr(j, "addr", a[0]);
		mw_json_uint(j, "len", a[1]);
		mw_fmt_prot(buf, sizeof(buf), a[2]);
		mw_json_str(j, "prot", buf);
		mw_fmt_mmap_flags(buf, sizeof(buf), a[3]);
		mw_json_str(j, "flags", buf);
		mw_json_int(j, "fd", (int32_t)a[4]);
		mw_json_uint(j, "offset", a[5]);
		break;
	case MW_SYS_MUNMAP:
		mw_json_addr(j, "addr", a[0]);
		mw_json_uint(j, "len", a[1]);
		break;
	case MW_SYS_MPROTECT:
	case MW_SYS_PKEY_MPROTECT:
		mw_json_addr(j, "addr", a[0]);
		mw_json_uint(j, "len", a[1]);
		mw_fmt_prot(buf, sizeof(buf), a[2]);
		mw_json_str(j, "prot", buf);
		if (sc->sys == MW_SYS_PKEY_MPROTECT)
			mw_json_int(j, "pkey", (int32_t)a[3]);
		break;
	case MW_SYS_SHMAT:
		mw_json_int(j, "shmid", (int32_t)a[0]);
		mw_json_addr(j, "addr", a[1]);
		mw_fmt_shm_flags(buf, sizeof(buf), a[2]);
		mw_json_str(j, "flags", buf);
		break;
	case MW_SYS_SHMDT: mw_json_addr(j, "addr", a[0]); break;
	case MW_SYS_MREMAP:
		mw_json_addr(j, "old_addr", a[0]);
		mw_json_uint(j, "old_len", a[1]);
		mw_json_uint(j, "new_len", a[2]);
		mw_fmt_mremap_flags(buf, sizeof(buf), a[3]);
		mw_json_str(j, "flags", buf);
		mw_json_addr(j, "new_addr", a[4]);
		break;
	case MW_SYS_MADVISE:
		mw_json_addr(j, "addr", a[0]);
		mw_json_uint(j, "len", a[1]);
		mw_fmt_madvise(buf, sizeof(buf), a[2]);
		mw_json_str(j, "advice", buf);
		break;
	default: break;
	}
	mw_json_obj_end(j);
}

static void json_syscall(struct mw_output *o, const struct mw_event *ev, const struct mw_apply *a)
{
	const struct mw_syscall_ev *sc = &ev->sc;
	bool addr_ret = sc->sys == MW_SYS_MMAP || sc->sys == MW_SYS_MREMAP ||
			sc->sys == MW_SYS_BRK || sc->sys == MW_SYS_SHMAT;
	bool error = sc->sys != MW_SYS_BRK && mw_ret_is_error(sc->ret);
	struct mw_json j;

	mw_json_begin(&j, o->f);
	json_event_head(&j, "syscall", ev);
	mw_json_str(&j, "name", mw_sys_name(sc->sys));
	json_args(&j, sc);
	if (error) {
		const char *name = mw_errno_name((int)-sc->ret);

		mw_json_int(&j, "ret", -1);
		if (name)
			mw_json_str(&j, "error", name);
		else
			mw_json_int(&j, "errno", -sc->ret);
	} else if (addr_ret) {
		mw_json_addr(&j, "ret", (uint64_t)sc->ret);
	} else {
		mw_json_int(&j, "ret", sc->ret);
	}
	if (o->show_dur)
		mw_json_uint(&j, "dur_ns", sc->dur_ns);
	mw_json_int(&j, "vm_delta", a->vm_delta);
	if (sc->rss_known) {
		mw_json_int(&j, "rss_delta", sc->rss_delta);
		mw_json_int(&j, "rss_delta_anon", sc->rss_anon);
		mw_json_int(&j, "rss_delta_file", sc->rss_file);
		mw_json_int(&j, "rss_delta_shmem", sc->rss_shmem);
	}
	json_stack(&j, o);
	mw_json_end(&j);
}

static void json_task(struct mw_output *o, const struct mw_event *ev, const struct mw_apply *a)
{
	struct mw_json j;

	mw_json_begin(&j, o->f);
	switch (ev->kind) {
	case MW_EV_THREAD_NEW:
		json_event_head(&j, "thread_new", ev);
		mw_json_uint(&j, "child_tid", ev->task.child_tid);
		mw_json_str(&j, "child_comm", ev->task.child_comm);
		break;
	case MW_EV_FORK:
		json_event_head(&j, "fork", ev);
		mw_json_uint(&j, "child_pid", ev->task.child_pid);
		mw_json_str(&j, "child_comm", ev->task.child_comm);
		break;
	case MW_EV_EXEC: json_event_head(&j, "exec", ev); break;
	case MW_EV_EXIT:
		json_event_head(&j, "exit", ev);
		mw_json_bool(&j, "group_dead", a->proc_exited);
		if (a->proc_exited) {
			if (WIFSIGNALED(ev->task.exit_code))
				mw_json_int(&j, "signal", WTERMSIG(ev->task.exit_code));
			else
				mw_json_int(&j, "code", WEXITSTATUS(ev->task.exit_code));
		}
		break;
	case MW_EV_USDT:
		json_event_head(&j, "usdt", ev);
		mw_json_str(&j, "probe", mw_usdt_name(ev->usdt.probe));
		mw_json_addr(&j, "arg0", ev->usdt.args[0]);
		mw_json_uint(&j, "arg1", ev->usdt.args[1]);
		break;
	case MW_EV_RENAME:
		json_event_head(&j, "rename", ev);
		mw_json_uint(&j, "target_tid", ev->task.child_tid);
		mw_json_str(&j, "new_comm", ev->task.child_comm);
		break;
	default: break;
	}
	mw_json_end(&j);
}

void mw_out_event(struct mw_output *o, const struct mw_event *ev, const struct mw_apply *a)
{
	if (o->summary_only || !a->proc || ev->kind == MW_EV_EXIT_GROUP || ev->kind == MW_EV_RSS ||
	    ev->kind == MW_EV_OOM)
		return;
	if (ev->kind == MW_EV_SYSCALL) {
		if (o->json)
			json_syscall(o, ev, a);
		else
			text_syscall(o, ev, a);
	} else {
		if (o->json)
			json_task(o, ev, a);
		else
			text_task(o, ev, a);
	}
}

void mw_out_lost(struct mw_output *o, uint64_t ts_ns, uint64_t count)
{
	struct mw_json j;
	char clk[32];

	if (o->json) {
		mw_json_begin(&j, o->f);
		mw_json_str(&j, "type", "lost");
		mw_json_uint(&j, "ts_ns", ts_ns);
		mw_json_uint(&j, "count", count);
		mw_json_end(&j);
		return;
	}
	mw_fmt_clock(clk, sizeof(clk), ts_ns);
	fprintf(o->f,
		"%s !!! %" PRIu64 " events lost (ring buffer full; counters stay exact) !!!\n", clk,
		count);
}

void mw_out_note(struct mw_output *o, uint64_t ts_ns, const char *msg)
{
	struct mw_json j;

	if (!o->json) {
		fprintf(o->f, "memwatch: %s\n", msg);
		return;
	}
	mw_json_begin(&j, o->f);
	mw_json_str(&j, "type", "note");
	mw_json_uint(&j, "ts_ns", ts_ns);
	mw_json_str(&j, "message", msg);
	mw_json_end(&j);
}

/* ---------- summaries ---------- */

static uint64_t total_errors(const struct mw_counts *c)
{
	uint64_t n = 0;

	for (int i = 0; i < MW_SYS_COUNT; i++)
		n += c->errors[i];
	return n;
}

static uint64_t total_calls(const struct mw_counts *c)
{
	uint64_t n = 0;

	for (int i = 0; i < MW_SYS_COUNT; i++)
		n += c->calls[i];
	return n;
}

static uint64_t process_dropped(const struct mw_process *p)
{
	uint64_t n = 0;

	for (size_t i = 0; i < p->nthreads; i++)
		n += mw_thread_dropped(&p->threads[i]);
	return n;
}

static int by_tid(const void *key, const void *elem)
{
	uint32_t a = *(const uint32_t *)key, b = ((const struct mw_class_samples *)elem)->tid;

	return a < b ? -1 : a > b;
}

/* --fault-stacks: the thread's sampled faults placed on the region model, by class. */
static void json_thread_faulted(const struct mw_output *o, struct mw_json *j, uint32_t tid)
{
	const struct mw_class_samples *t;

	if (!o->faulted_class_samples)
		return;
	t = bsearch(&tid, o->faulted_threads, o->faulted_nthreads, sizeof(*t), by_tid);
	mw_json_obj_begin(j, "faulted_by_class");
	for (int c = 0; t && c <= MW_CLASS_COUNT; c++)
		if (t->n[c])
			mw_json_uint(j, c < MW_CLASS_COUNT ? mw_class_name(c) : "unknown",
				     t->n[c] * o->faulted_scale);
	mw_json_obj_end(j);
	mw_json_bool(j, "faulted_estimated", o->faulted_estimated);
}

/* by: the thread's bytes by class (mw_process_class_bytes), NULL if unknown. */
static void json_thread(struct mw_output *o, uint64_t ts_ns, const struct mw_process *p,
			const struct mw_thread *t, const uint64_t *by)
{
	const struct mw_counts *c = mw_thread_counts(t);
	struct mw_json j;

	mw_json_begin(&j, o->f);
	json_head(&j, "thread_summary", ts_ns, p->pid);
	mw_json_uint(&j, "tid", t->tid);
	mw_json_str(&j, "comm", t->comm);
	mw_json_obj_begin(&j, "calls");
	for (int i = 0; i < MW_SYS_COUNT; i++)
		mw_json_uint(&j, mw_sys_name(i), c->calls[i]);
	mw_json_obj_end(&j);
	mw_json_uint(&j, "errors", total_errors(c));
	mw_json_uint(&j, "mapped", t->mapped);
	mw_json_uint(&j, "unmapped", t->unmapped);
	mw_json_int(&j, "net", mw_i64_sub((int64_t)t->mapped, (int64_t)t->unmapped));
	mw_json_int(&j, "accessible", t->accessible);
	mw_json_int(&j, "reserved", t->reserved);
	mw_json_uint(&j, "dropped", mw_thread_dropped(t));
	if (t->have_faults) {
		mw_json_uint(&j, "faults", t->faults);
		mw_json_uint(&j, "faulted", t->faulted);
	}
	if (by) {
		mw_json_obj_begin(&j, "by_class");
		for (int c = 0; c < MW_CLASS_COUNT; c++)
			if (by[c])
				mw_json_uint(&j, mw_class_name(c), by[c]);
		mw_json_obj_end(&j);
	}
	json_thread_faulted(o, &j, t->tid);
	mw_json_bool(&j, "exited", t->exited);
	mw_json_end(&j);
}

/* Resident memory where the kernel's counters were read; absent where they were not. */
static void json_resident(struct mw_json *j, const struct mw_process *p)
{
	if (p->resident_start.known)
		mw_json_uint(j, "rss_start", mw_resident_bytes(&p->resident_start));
	if (!p->resident.known)
		return;
	mw_json_uint(j, "rss_end", mw_resident_bytes(&p->resident));
	mw_json_uint(j, "rss_anon", p->resident.anon);
	mw_json_uint(j, "rss_file", p->resident.file);
	mw_json_uint(j, "rss_shmem", p->resident.shmem);
	if (p->resident.slack)
		mw_json_uint(j, "rss_slack", p->resident.slack);
}

/* --fault-stacks: the sampled faults placed on the region model, by class. */
static void json_faulted_by_class(const struct mw_output *o, struct mw_json *j)
{
	const uint64_t *v = o->faulted_class_samples;

	if (!v)
		return;
	mw_json_obj_begin(j, "faulted_by_class");
	for (int c = 0; c <= MW_CLASS_COUNT; c++)
		if (v[c])
			mw_json_uint(j, c < MW_CLASS_COUNT ? mw_class_name(c) : "unknown",
				     v[c] * o->faulted_scale);
	mw_json_obj_end(j);
	mw_json_bool(j, "faulted_estimated", o->faulted_estimated);
}

static void text_faulted_by_class(const struct mw_output *o)
{
	const uint64_t *v = o->faulted_class_samples;
	const char *sep = "";
	char b[32];

	if (!v)
		return;
	fprintf(o->f,
		"faulted in by class (sampled%s):", o->faulted_estimated ? ", estimates" : "");
	for (int c = 0; c <= MW_CLASS_COUNT; c++) {
		if (!v[c])
			continue;
		mw_fmt_size(b, sizeof(b), (int64_t)(v[c] * o->faulted_scale));
		fprintf(o->f, "%s %s %s%s", sep, c < MW_CLASS_COUNT ? mw_class_name(c) : "unknown",
			o->faulted_estimated ? "~" : "", b);
		sep = ",";
	}
	fputc('\n', o->f);
}

/* Resident bytes by class where smaps was read at this report; absent where it was not. */
static void json_resident_classes(struct mw_json *j, const struct mw_process *p)
{
	if (!p->rmap.known)
		return;
	mw_json_obj_begin(j, "resident_by_class");
	for (int c = 0; c < MW_CLASS_COUNT; c++)
		if (p->rmap.by_class[c])
			mw_json_uint(j, mw_class_name(c), p->rmap.by_class[c]);
	mw_json_obj_end(j);
}

static void json_process(struct mw_output *o, uint64_t ts_ns, const struct mw_process *p)
{
	struct mw_totals tot;
	struct mw_json j;

	mw_json_begin(&j, o->f);
	json_head(&j, "process_summary", ts_ns, p->pid);
	mw_json_str(&j, "comm", p->comm);
	mw_json_uint(&j, "threads", p->nthreads);
	mw_json_int(&j, "net", mw_i64_add(p->net, mw_process_stack_delta(p)));
	mw_json_uint(&j, "vm_start", p->vm_start);
	mw_json_uint(&j, "vm_end", p->vm_end);
	mw_process_totals(p, &tot);
	mw_json_uint(&j, "mapped", tot.mapped);
	mw_json_uint(&j, "committed", tot.committed);
	mw_json_uint(&j, "dropped", process_dropped(p));
	mw_json_uint(&j, "raced", p->raced);
	mw_json_int(&j, "unattributed", p->unattributed);
	mw_json_int(&j, "stack_delta", mw_process_stack_delta(p));
	json_resident(&j, p);
	json_faulted_by_class(o, &j);
	json_resident_classes(&j, p);
	if (p->parent)
		mw_json_uint(&j, "parent", p->parent);
	if (p->exited) {
		if (WIFSIGNALED(p->exit_code))
			mw_json_int(&j, "signal", WTERMSIG(p->exit_code));
		else
			mw_json_int(&j, "code", WEXITSTATUS(p->exit_code));
	}
	mw_json_end(&j);
}

/* Under the classes table: what is resident of each class now (all threads' and the
 * baseline's), from smaps read at this report. */
static void text_resident_row(struct mw_output *o, const struct mw_process *p,
			      const enum mw_class *cols, size_t ncols)
{
	uint64_t other = 0;
	char s[32];

	for (int c = 0; c < MW_CLASS_COUNT; c++)
		other += p->rmap.by_class[c];
	fprintf(o->f, "%7s %-15s", "", "RESIDENT");
	for (size_t k = 0; k < ncols; k++) {
		mw_fmt_size(s, sizeof(s), (int64_t)p->rmap.by_class[cols[k]]);
		fprintf(o->f, " %8s", s);
		other -= p->rmap.by_class[cols[k]];
	}
	mw_fmt_size(s, sizeof(s), (int64_t)other);
	fprintf(o->f, " %8s\n", s);
}

/* Per thread, what it mapped that is still there, by class. */
static void text_classes(struct mw_output *o, const struct mw_process *p)
{
	static const enum mw_class cols[] = {
		MW_CLASS_MAIN_HEAP,    MW_CLASS_ARENA_HEAP, MW_CLASS_MALLOC_CHUNK,
		MW_CLASS_THREAD_STACK, MW_CLASS_FILE,
	};
	uint64_t(*rows)[MW_CLASS_COUNT] = mw_process_class_bytes(p);
	bool header = false;
	struct qname q;

	for (size_t i = 0; rows && i < p->nthreads; i++) {
		const struct mw_thread *t = &p->threads[i];
		const uint64_t *by = rows[i];
		uint64_t other = 0, total = 0;
		char s[32];

		for (int c = 0; c < MW_CLASS_COUNT; c++)
			total += by[c];
		if (!total)
			continue;
		if (!header) {
			fprintf(o->f, "%7s %-15s %8s %8s %8s %8s %8s %8s\n", "TID", "COMM",
				"MAINHEAP", "ARENA", "CHUNK", "STACK", "FILE", "OTHER");
			header = true;
		}
		fprintf(o->f, "%7" PRIu32 " %-15s", t->tid, qcomm(&q, t->comm));
		for (size_t k = 0; k < sizeof(cols) / sizeof(cols[0]); k++) {
			mw_fmt_size(s, sizeof(s), (int64_t)by[cols[k]]);
			fprintf(o->f, " %8s", s);
			total -= by[cols[k]];
		}
		other = total;
		mw_fmt_size(s, sizeof(s), (int64_t)other);
		fprintf(o->f, " %8s\n", s);
	}
	free(rows);
	if (header && p->rmap.known)
		text_resident_row(o, p, cols, sizeof(cols) / sizeof(cols[0]));
}

/*
 * Calls per thread. The SysV and protection-key columns only when a thread of
 * the process made such a call; threads that made no call at all share one
 * line (a pool of 1000 idle workers is one line, not 1000 rows of zeros).
 */
static void text_calls(struct mw_output *o, const struct mw_process *p)
{
	static const char *const head[MW_SYS_COUNT] = {
		"brk", "mmap", "munmap", "mprot", "mremap", "madv", "shmat", "shmdt", "pkeymp",
	};
	int ncols = MW_SYS_MADVISE + 1;
	size_t idle = 0;
	FILE *f = o->f;
	struct qname q;

	for (size_t i = 0; i < p->nthreads && ncols < MW_SYS_COUNT; i++)
		for (int s = ncols; s < MW_SYS_COUNT; s++)
			if (mw_thread_counts(&p->threads[i])->calls[s])
				ncols = MW_SYS_COUNT;
	fprintf(f, "%7s %-15s", "TID", "COMM");
	for (int s = 0; s < ncols; s++)
		fprintf(f, " %6s", head[s]);
	fprintf(f, " %6s\n", "errors");
	for (size_t i = 0; i < p->nthreads; i++) {
		const struct mw_thread *t = &p->threads[i];
		const struct mw_counts *k = mw_thread_counts(t);

		if (!total_calls(k)) {
			idle++;
			continue;
		}
		fprintf(f, "%7" PRIu32 " %-15s", t->tid, qcomm(&q, t->comm));
		for (int s = 0; s < ncols; s++)
			fprintf(f, " %6" PRIu64, k->calls[s]);
		fprintf(f, " %6" PRIu64 "\n", total_errors(k));
	}
	if (idle)
		fprintf(f, "%7s (%zu thread%s with no memory calls)\n", "", idle,
			idle == 1 ? "" : "s");
}

static void text_process(struct mw_output *o, const struct mw_process *p)
{
	char a[32], b[32], c[32], d[32], e[32];
	bool faults = false;
	FILE *f = o->f;
	struct qname q;

	mw_fmt_delta(a, sizeof(a), mw_i64_add(p->net, mw_process_stack_delta(p)));
	mw_fmt_size(b, sizeof(b), (int64_t)p->vm_start);
	mw_fmt_size(c, sizeof(c), (int64_t)p->vm_end);
	fprintf(f, "\n--- pid %" PRIu32 " (%s): %zu threads, net %s, VmSize %s -> %s", p->pid,
		qcomm(&q, p->comm), p->nthreads, a, b, p->vm_end ? c : "?");
	if (p->resident.known) {
		mw_fmt_size(b, sizeof(b), (int64_t)mw_resident_bytes(&p->resident_start));
		mw_fmt_size(c, sizeof(c), (int64_t)mw_resident_bytes(&p->resident));
		fprintf(f, ", RSS %s -> %s", p->resident_start.known ? b : "?", c);
	}
	if (process_dropped(p))
		fprintf(f, ", %" PRIu64 " events lost", process_dropped(p));
	fputs(" ---\n", f);

	text_calls(o, p);
	for (size_t i = 0; i < p->nthreads; i++)
		faults |= p->threads[i].have_faults;
	fprintf(f, "%7s %-15s %9s %9s %9s %9s %9s", "TID", "COMM", "MAPPED", "UNMAPPED", "NET",
		"ACCESS", "RESERVED");
	fputs(faults ? "   FAULTED\n" : "\n", f);
	for (size_t i = 0; i < p->nthreads; i++) {
		const struct mw_thread *t = &p->threads[i];

		if (!t->mapped && !t->unmapped && !total_calls(mw_thread_counts(t)) && !t->faulted)
			continue;
		mw_fmt_size(a, sizeof(a), (int64_t)t->mapped);
		mw_fmt_size(b, sizeof(b), (int64_t)t->unmapped);
		mw_fmt_delta(c, sizeof(c), mw_i64_sub((int64_t)t->mapped, (int64_t)t->unmapped));
		mw_fmt_delta(d, sizeof(d), t->accessible);
		mw_fmt_delta(e, sizeof(e), t->reserved);
		fprintf(f, "%7" PRIu32 " %-15s %9s %9s %9s %9s %9s", t->tid, qcomm(&q, t->comm), a,
			b, c, d, e);
		/* A thread whose faults were not counted says so, never 0. */
		mw_fmt_size(a, sizeof(a), (int64_t)t->faulted);
		if (faults)
			fprintf(f, " %9s", t->have_faults ? a : "?");
		fputc('\n', f);
	}
	text_classes(o, p);
	text_faulted_by_class(o);
}

void mw_out_thread(struct mw_output *o, uint64_t ts_ns, const struct mw_process *p,
		   const struct mw_thread *t)
{
	uint64_t(*rows)[MW_CLASS_COUNT];

	if (!o->json)
		return;
	rows = mw_process_class_bytes(p);
	json_thread(o, ts_ns, p, t, rows ? rows[t - p->threads] : NULL);
	free(rows);
}

void mw_out_process(struct mw_output *o, uint64_t ts_ns, const struct mw_process *p)
{
	if (!o->json) {
		text_process(o, p);
		return;
	}
	uint64_t(*rows)[MW_CLASS_COUNT] = mw_process_class_bytes(p);

	for (size_t i = 0; i < p->nthreads; i++)
		json_thread(o, ts_ns, p, &p->threads[i], rows ? rows[i] : NULL);
	free(rows);
	json_process(o, ts_ns, p);
}

/* Text: the model's regions as they are kept, with what each is and who made it. */
static void text_regions(struct mw_output *o, const struct mw_process *p)
{
	struct qname q;
	char *name = malloc(MW_TEXT_ROOM(MW_TEXT_NAME_MAX));

	if (!name)
		return;
	fprintf(o->f, "\n--- pid %" PRIu32 " (%s): %zu regions ---\n", p->pid, qcomm(&q, p->comm),
		p->regions.n);
	fprintf(o->f, "%-12s %6s %4s %-12s %5s %7s %s\n", "ADDRESS", "SIZE", "PERM", "CLASS",
		"ARENA", "TID", "NAME");
	for (size_t i = 0; i < p->regions.n; i++) {
		const struct mw_region *r = &p->regions.v[i];
		char sz[32], ar[16] = "-", tid[16] = "-", perm[5];

		mw_fmt_size(sz, sizeof(sz), (int64_t)(r->end - r->start));
		if (mw_region_arena(r) > 0)
			snprintf(ar, sizeof(ar), "%d", mw_region_arena(r));
		if (r->tid)
			snprintf(tid, sizeof(tid), "%" PRIu32, r->tid);
		mw_region_perm(r, perm);
		fprintf(o->f, "%012" PRIx64 " %6s %4s %-12s %5s %7s %s\n", r->start, sz, perm,
			mw_class_name(r->cls), ar, tid,
			r->name ? mw_text_quote(name, MW_TEXT_ROOM(MW_TEXT_NAME_MAX), r->name,
						MW_TEXT_NAME_MAX)
				: "");
	}
	free(name);
}

/* Same kind of region: one NDJSON object may cover both. */
static bool same_region_kind(const struct mw_region *a, const struct mw_region *b)
{
	return a->end == b->start && a->prot == b->prot && a->name == b->name && a->cls == b->cls &&
	       a->arena == b->arena && a->tid == b->tid;
}

static void json_region(struct mw_output *o, uint64_t ts_ns, uint32_t pid,
			const struct mw_region *r, uint64_t end)
{
	struct mw_json j;
	char prot[64];
	int arena = mw_region_arena(r);

	mw_fmt_prot(prot, sizeof(prot), r->prot);
	mw_json_begin(&j, o->f);
	json_head(&j, "region", ts_ns, pid);
	mw_json_addr(&j, "start", r->start);
	mw_json_addr(&j, "end", end);
	mw_json_str(&j, "prot", prot);
	mw_json_str(&j, "class", mw_class_name(r->cls));
	if (arena >= 0)
		mw_json_int(&j, "arena", arena);
	if (r->tid)
		mw_json_uint(&j, "tid", r->tid);
	if (r->name)
		mw_json_str(&j, "name", r->name);
	mw_json_end(&j);
}

void mw_out_regions(struct mw_output *o, uint64_t ts_ns, const struct mw_process *p)
{
	const struct mw_regions *rs = &p->regions;

	if (!o->json) {
		text_regions(o, p);
		return;
	}
	/* NDJSON: adjacent pieces of the same kind (prot, name, class, arena,
	 * creating thread) as one object. */
	for (size_t i = 0; i < rs->n;) {
		size_t k = i + 1;

		while (k < rs->n && same_region_kind(&rs->v[k - 1], &rs->v[k]))
			k++;
		json_region(o, ts_ns, p->pid, &rs->v[i], rs->v[k - 1].end);
		i = k;
	}
}

/* ---------- allocator events ---------- */

static const char *alloc_type(enum mw_alloc_ev_kind k)
{
	switch (k) {
	case MW_AEV_ARENA_CREATE: return "arena_create";
	case MW_AEV_ARENA_HEAP_NEW: return "arena_heap_new";
	case MW_AEV_ARENA_GROW: return "arena_grow";
	case MW_AEV_ARENA_SHRINK: return "arena_shrink";
	case MW_AEV_ARENA_HEAP_DELETE: return "arena_heap_delete";
	case MW_AEV_ARENA_REUSE: return "arena_reuse";
	case MW_AEV_THREAD_STACK: return "thread_stack";
	case MW_AEV_MAIN_HEAP_GROW: return "main_heap_grow";
	case MW_AEV_MAIN_HEAP_TRIM: return "main_heap_trim";
	case MW_AEV_ALLOCATOR: return "allocator";
	case MW_AEV_ARENAS: return "glibc_arenas";
	}
	return "allocator_event";
}

static const char *arenas_how(enum mw_arenas_how h)
{
	switch (h) {
	case MW_ARENAS_NONE: return "none";
	case MW_ARENAS_MAIN_ARENA: return "main_arena";
	case MW_ARENAS_LAYOUT: return "layout";
	case MW_ARENAS_SHAPE: return "shape";
	case MW_ARENAS_UNKNOWN: break;
	}
	return "unknown";
}

static void json_alloc(struct mw_output *o, const char *comm, const struct mw_alloc_ev *e)
{
	struct mw_json j;

	mw_json_begin(&j, o->f);
	json_head(&j, alloc_type(e->kind), e->ts_ns, e->pid);
	if (e->tid) {
		mw_json_uint(&j, "tid", e->tid);
		mw_json_str(&j, "comm", comm);
	}
	switch (e->kind) {
	case MW_AEV_ARENA_CREATE:
	case MW_AEV_ARENA_HEAP_NEW:
	case MW_AEV_ARENA_HEAP_DELETE:
		mw_json_int(&j, "arena", e->arena);
		mw_json_addr(&j, "base", e->base);
		mw_json_uint(&j, "heaps", e->heaps);
		mw_json_uint(&j, "reserved", e->reserved);
		mw_json_uint(&j, "committed", e->committed);
		break;
	case MW_AEV_ARENA_GROW:
		mw_json_int(&j, "arena", e->arena);
		mw_json_addr(&j, "base", e->base);
		mw_json_uint(&j, "bytes", e->bytes);
		mw_json_uint(&j, "committed", e->committed);
		break;
	case MW_AEV_ARENA_SHRINK:
		mw_json_int(&j, "arena", e->arena);
		mw_json_addr(&j, "base", e->base);
		mw_json_uint(&j, "bytes", e->bytes);
		mw_json_str(&j, "form", e->shrink_fixed ? "map_fixed" : "madvise");
		mw_json_bool(&j, "hole", e->hole);
		mw_json_uint(&j, "committed", e->committed);
		mw_json_uint(&j, "trimmed", e->trimmed);
		break;
	case MW_AEV_ARENA_REUSE: mw_json_int(&j, "arena", e->arena); break;
	case MW_AEV_THREAD_STACK:
		mw_json_addr(&j, "base", e->base);
		mw_json_uint(&j, "bytes", e->bytes);
		mw_json_uint(&j, "guard", e->guard);
		break;
	case MW_AEV_MAIN_HEAP_GROW:
	case MW_AEV_MAIN_HEAP_TRIM:
		mw_json_addr(&j, "base", e->base);
		mw_json_uint(&j, "bytes", e->bytes);
		mw_json_uint(&j, "size", e->committed);
		if (e->kind == MW_AEV_MAIN_HEAP_TRIM)
			mw_json_str(&j, "form", e->hole ? "madvise" : "brk");
		break;
	case MW_AEV_ALLOCATOR:
		mw_json_str(&j, "allocator", mw_allocator_name(e->allocator));
		mw_json_str(&j, "evidence", e->evidence ? e->evidence : "");
		break;
	case MW_AEV_ARENAS:
		if (e->arena >= 0)
			mw_json_int(&j, "arenas", e->arena);
		else
			mw_json_null(&j, "arenas");
		mw_json_uint(&j, "heaps", e->heaps);
		mw_json_str(&j, "how", arenas_how(e->how));
		mw_json_str(&j, "evidence", e->evidence ? e->evidence : "");
		break;
	}
	if (e->kind != MW_AEV_ALLOCATOR && e->kind != MW_AEV_ARENAS)
		mw_json_str(&j, "source", e->source ? e->source : "syscalls");
	json_stack(&j, o); /* the syscall's that made it (--stacks) */
	mw_json_end(&j);
}

static void text_alloc(struct mw_output *o, const char *comm, const struct mw_alloc_ev *e)
{
	char clk[32], a[32], b[32], c[32], ev[MW_TEXT_ROOM(256)];
	struct qname q;

	mw_fmt_clock(clk, sizeof(clk), e->ts_ns);
	if (e->tid)
		fprintf(o->f, "%s [%" PRIu32 "/%" PRIu32 " %s] *** ", clk, e->pid, e->tid,
			qcomm(&q, comm));
	else
		fprintf(o->f, "%s [%" PRIu32 " %s] *** ", clk, e->pid, qcomm(&q, comm));
	mw_fmt_size(a, sizeof(a), (int64_t)e->reserved);
	mw_fmt_size(b, sizeof(b), (int64_t)e->committed);
	mw_fmt_size(c, sizeof(c), (int64_t)e->bytes);
	switch (e->kind) {
	case MW_AEV_ARENA_CREATE:
		fprintf(o->f, "arena %d created at 0x%" PRIx64 ": %s reserved, %s committed",
			e->arena, e->base, a, b);
		break;
	case MW_AEV_ARENA_HEAP_NEW:
		fprintf(o->f, "arena %d: new heap at 0x%" PRIx64 ", %u heaps, %s reserved",
			e->arena, e->base, e->heaps, a);
		break;
	case MW_AEV_ARENA_GROW:
		fprintf(o->f, "arena %d grew +%s: %s committed", e->arena, c, b);
		break;
	case MW_AEV_ARENA_SHRINK:
		mw_fmt_size(a, sizeof(a), (int64_t)e->trimmed);
		fprintf(o->f, "arena %d trimmed %s (%s%s): %s committed, %s trimmed in all",
			e->arena, c, e->shrink_fixed ? "MAP_FIXED PROT_NONE" : "MADV_DONTNEED",
			e->hole ? ", below the top" : "", b, a);
		break;
	case MW_AEV_ARENA_HEAP_DELETE:
		fprintf(o->f, "arena %d: heap at 0x%" PRIx64 " deleted, %u heaps, %s reserved",
			e->arena, e->base, e->heaps, a);
		break;
	case MW_AEV_ARENA_REUSE: fprintf(o->f, "arena %d reused by this thread", e->arena); break;
	case MW_AEV_THREAD_STACK:
		mw_fmt_size(a, sizeof(a), (int64_t)e->guard);
		fprintf(o->f, "thread stack at 0x%" PRIx64 ": %s, guard %s", e->base, c, a);
		break;
	case MW_AEV_MAIN_HEAP_GROW:
	case MW_AEV_MAIN_HEAP_TRIM:
		fprintf(o->f, "main heap %s%s%s: %s", e->kind == MW_AEV_MAIN_HEAP_GROW ? "+" : "-",
			c, e->hole ? " (MADV_DONTNEED)" : "", b);
		break;
	case MW_AEV_ALLOCATOR:
		/* The evidence names a library file: a name the target chose. */
		fprintf(o->f, "allocator: %s (%s)", mw_allocator_name(e->allocator),
			mw_text_quote(ev, sizeof(ev), e->evidence ? e->evidence : "", 256));
		break;
	case MW_AEV_ARENAS:
		/* The evidence may name files of the target: escaped. */
		mw_text_quote(ev, sizeof(ev), e->evidence ? e->evidence : "", 256);
		if (e->arena >= 0)
			fprintf(o->f, "glibc arenas at attach: %d besides main, %u heaps (%s)",
				e->arena, e->heaps, ev);
		else
			fprintf(o->f, "glibc arenas at attach: unknown (%s)", ev);
		break;
	}
	fputs(" ***\n", o->f);
}

void mw_out_alloc(struct mw_output *o, const struct mw_process *p, const struct mw_alloc_ev *e)
{
	const struct mw_thread *t = e->tid ? mw_process_find_thread(p, e->tid) : NULL;
	const char *comm = t ? t->comm : p->comm;

	if (o->summary_only && !o->alloc_always)
		return;
	if (o->json)
		json_alloc(o, comm, e);
	else
		text_alloc(o, comm, e);
}

/* An arena's resident bytes (p->rmap known): those of the regions labelled with it. */
static uint64_t arena_resident(const struct mw_process *p, int id)
{
	return id >= 0 && (size_t)id < p->rmap.narenas ? p->rmap.by_arena[id] : 0;
}

void mw_out_arenas(struct mw_output *o, uint64_t ts_ns, const struct mw_process *p)
{
	size_t n = mw_alloc_narenas(p->alloc);
	char a[32], b[32], c[32];

	if (!o->json && !mw_alloc_arenas_known(p->alloc)) {
		char why[MW_TEXT_ROOM(256)];

		fprintf(o->f, "glibc arenas present at attach: unknown (%s); %zu seen since\n",
			mw_text_quote(why, sizeof(why), mw_alloc_arenas_why(p->alloc), 256), n);
	}
	if (!n)
		return;
	if (!o->json)
		fprintf(o->f, "%7s %7s %5s %9s %9s %9s %7s%s\n", "ARENA", "CREATOR", "HEAPS",
			"RESERVED", "COMMITTED", "TRIMMED", "THREADS",
			p->rmap.known ? "  RESIDENT" : "");
	for (size_t i = 0; i < n; i++) {
		const struct mw_arena *ar = mw_alloc_arena(p->alloc, i);
		struct mw_json j;

		if (!o->json) {
			mw_fmt_size(a, sizeof(a), (int64_t)ar->reserved);
			mw_fmt_size(b, sizeof(b), (int64_t)ar->committed);
			mw_fmt_size(c, sizeof(c), (int64_t)ar->trimmed);
			fprintf(o->f, "%7d %7" PRIu32 " %5zu %9s %9s %9s %7zu", ar->id,
				ar->creator_tid, ar->nheaps, a, b, c, ar->nthreads);
			mw_fmt_size(a, sizeof(a), (int64_t)arena_resident(p, ar->id));
			if (p->rmap.known)
				fprintf(o->f, " %9s", a);
			fputc('\n', o->f);
			continue;
		}
		mw_json_begin(&j, o->f);
		json_head(&j, "arena_summary", ts_ns, p->pid);
		mw_json_int(&j, "arena", ar->id);
		mw_json_uint(&j, "creator_tid", ar->creator_tid);
		mw_json_uint(&j, "heaps", ar->nheaps);
		mw_json_uint(&j, "reserved", ar->reserved);
		mw_json_uint(&j, "committed", ar->committed);
		mw_json_uint(&j, "trimmed", ar->trimmed);
		mw_json_uint(&j, "threads", ar->nthreads);
		if (o->faulted_class_samples) {
			uint64_t n = ar->id >= 0 && (size_t)ar->id < o->faulted_narena
					     ? o->faulted_arena_samples[ar->id]
					     : 0;

			mw_json_uint(&j, "faulted", n * o->faulted_scale);
			mw_json_bool(&j, "faulted_estimated", o->faulted_estimated);
		}
		if (p->rmap.known)
			mw_json_uint(&j, "resident", arena_resident(p, ar->id));
		mw_json_str(&j, "source",
			    ar->by_usdt ? (ar->by_syscalls ? "syscalls+usdt" : "usdt")
					: "syscalls");
		mw_json_end(&j);
	}
}

void mw_out_diag(struct mw_output *o, uint64_t ts_ns, const struct mw_process *p,
		 const struct mw_diag *d)
{
	struct mw_json j;

	if (!o->json) {
		fprintf(o->f, "!!! pid %" PRIu32 " %s: %s\n    options: %s\n", p->pid, d->kind,
			d->message, d->remedy);
		return;
	}
	mw_json_begin(&j, o->f);
	json_head(&j, "diagnosis", ts_ns, p->pid);
	mw_json_str(&j, "kind", d->kind);
	mw_json_str(&j, "message", d->message);
	mw_json_str(&j, "remedy", d->remedy);
	if (d->has_bytes) {
		mw_json_uint(&j, "mapped", d->mapped);
		mw_json_uint(&j, "committed", d->committed);
	}
	/* Absent where smaps was not read (unknown); dated: the process may have ended since. */
	if (d->resident_known) {
		mw_json_uint(&j, "resident", d->resident);
		mw_json_uint(&j, "resident_ts_ns", d->resident_ts_ns);
	}
	mw_json_end(&j);
}

/* ---------- the OOM killer's victim ---------- */

/* The thread whose mappings hold the most bytes now, and the class most committed bytes are in. */
static void oom_biggest(const struct mw_process *p, const uint64_t (*rows)[MW_CLASS_COUNT],
			const struct mw_totals *tot, size_t *thread, uint64_t *thread_bytes,
			int *cls)
{
	*thread = p->nthreads;
	*thread_bytes = 0;
	*cls = -1;
	for (size_t i = 0; rows && i < p->nthreads; i++) {
		uint64_t sum = 0;

		for (int c = 0; c < MW_CLASS_COUNT; c++)
			sum += rows[i][c];
		if (sum > *thread_bytes) {
			*thread_bytes = sum;
			*thread = i;
		}
	}
	/* By committed bytes: an arena's reservation is mostly PROT_NONE and costs nothing. */
	for (int c = 0; c < MW_CLASS_COUNT; c++)
		if (tot->committed_by[c] &&
		    (*cls < 0 || tot->committed_by[c] > tot->committed_by[*cls]))
			*cls = c;
}

static void text_oom(struct mw_output *o, const struct mw_process *p, const struct mw_event *ev,
		     const struct mw_totals *tot, const struct mw_thread *big, uint64_t big_bytes,
		     int cls)
{
	char m[32], c[32], g[32], b[32];
	struct qname q;

	mw_fmt_size(m, sizeof(m), (int64_t)tot->mapped);
	mw_fmt_size(c, sizeof(c), (int64_t)tot->committed);
	mw_fmt_size(g, sizeof(g), (int64_t)(tot->mapped - p->report_mapped));
	fprintf(o->f,
		"!!! pid %" PRIu32 " (%s) chosen by the OOM killer: %s mapped, %s committed, "
		"%s since the last report\n",
		p->pid, qcomm(&q, p->comm), m, c, g);
	if (big) {
		mw_fmt_size(b, sizeof(b), (int64_t)big_bytes);
		fprintf(o->f, "    biggest thread: %" PRIu32 " (%s), %s mapped\n", big->tid,
			qcomm(&q, big->comm), b);
	}
	if (cls >= 0) {
		mw_fmt_size(b, sizeof(b), (int64_t)tot->committed_by[cls]);
		fprintf(o->f, "    biggest class: %s, %s committed\n", mw_class_name(cls), b);
	}
	(void)ev;
}

static void json_oom_threads(struct mw_json *j, const struct mw_process *p,
			     const uint64_t (*rows)[MW_CLASS_COUNT])
{
	mw_json_arr_begin(j, "threads");
	for (size_t i = 0; i < p->nthreads; i++) {
		const struct mw_thread *t = &p->threads[i];

		mw_json_obj_begin(j, NULL);
		mw_json_uint(j, "tid", t->tid);
		mw_json_str(j, "comm", t->comm);
		mw_json_uint(j, "mapped", t->mapped);
		mw_json_uint(j, "unmapped", t->unmapped);
		mw_json_int(j, "net", (int64_t)t->mapped - (int64_t)t->unmapped);
		mw_json_int(j, "accessible", t->accessible);
		if (rows) {
			mw_json_obj_begin(j, "by_class");
			for (int c = 0; c < MW_CLASS_COUNT; c++)
				if (rows[i][c])
					mw_json_uint(j, mw_class_name(c), rows[i][c]);
			mw_json_obj_end(j);
		}
		mw_json_bool(j, "exited", t->exited);
		mw_json_obj_end(j);
	}
	mw_json_arr_end(j);
}

static void json_oom_arenas(struct mw_json *j, const struct mw_process *p)
{
	size_t n = p->alloc ? mw_alloc_narenas(p->alloc) : 0;

	/* Arenas present at attach that could not be verified: no number. */
	if (p->alloc && mw_alloc_arenas_known(p->alloc))
		mw_json_uint(j, "arenas", n);
	else
		mw_json_null(j, "arenas");
	if (p->arena_limit > 0)
		mw_json_int(j, "arena_limit", p->arena_limit);
	mw_json_arr_begin(j, "arena_table");
	for (size_t i = 0; i < n; i++) {
		const struct mw_arena *ar = mw_alloc_arena(p->alloc, i);

		mw_json_obj_begin(j, NULL);
		mw_json_int(j, "arena", ar->id);
		mw_json_uint(j, "creator_tid", ar->creator_tid);
		mw_json_uint(j, "reserved", ar->reserved);
		mw_json_uint(j, "committed", ar->committed);
		mw_json_obj_end(j);
	}
	mw_json_arr_end(j);
}

void mw_out_oom(struct mw_output *o, const struct mw_process *p, const struct mw_event *ev)
{
	uint64_t(*rows)[MW_CLASS_COUNT] = mw_process_class_bytes(p);
	const struct mw_thread *big = NULL;
	uint64_t big_bytes;
	struct mw_totals tot;
	struct mw_json j;
	size_t bi;
	int cls;

	mw_process_totals(p, &tot);
	oom_biggest(p, (const uint64_t(*)[MW_CLASS_COUNT])rows, &tot, &bi, &big_bytes, &cls);
	if (bi < p->nthreads)
		big = &p->threads[bi];
	if (!o->json) {
		text_oom(o, p, ev, &tot, big, big_bytes, cls);
		free(rows);
		return;
	}
	mw_json_begin(&j, o->f);
	json_head(&j, "oom", ev->ts_ns, p->pid);
	mw_json_uint(&j, "tid", ev->tid);
	mw_json_str(&j, "comm", p->comm);
	mw_json_uint(&j, "oom_pid", ev->task.child_pid);
	if (ev->task.vm_bytes)
		mw_json_uint(&j, "vm_size", ev->task.vm_bytes);
	mw_json_uint(&j, "mapped", tot.mapped);
	mw_json_uint(&j, "committed", tot.committed);
	mw_json_obj_begin(&j, "growth");
	mw_json_uint(&j, "since_ns", p->report_ns);
	mw_json_int(&j, "mapped", (int64_t)(tot.mapped - p->report_mapped));
	mw_json_int(&j, "committed", (int64_t)(tot.committed - p->report_committed));
	mw_json_obj_end(&j);
	mw_json_obj_begin(&j, "mapped_by_class");
	for (int c = 0; c < MW_CLASS_COUNT; c++)
		if (tot.mapped_by[c])
			mw_json_uint(&j, mw_class_name(c), tot.mapped_by[c]);
	mw_json_obj_end(&j);
	mw_json_obj_begin(&j, "committed_by_class");
	for (int c = 0; c < MW_CLASS_COUNT; c++)
		if (tot.committed_by[c])
			mw_json_uint(&j, mw_class_name(c), tot.committed_by[c]);
	mw_json_obj_end(&j);
	if (cls >= 0)
		mw_json_str(&j, "top_class", mw_class_name(cls));
	if (big) {
		mw_json_obj_begin(&j, "top_thread");
		mw_json_uint(&j, "tid", big->tid);
		mw_json_str(&j, "comm", big->comm);
		mw_json_uint(&j, "bytes", big_bytes);
		mw_json_obj_end(&j);
	}
	json_oom_arenas(&j, p);
	json_oom_threads(&j, p, (const uint64_t(*)[MW_CLASS_COUNT])rows);
	mw_json_end(&j);
	free(rows);
}
