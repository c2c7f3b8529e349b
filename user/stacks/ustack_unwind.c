// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* A full unwind of one capture with libdwfl. The "process" libdwfl sees is
 * the capture: its registers are the captured ones, its memory is the stack
 * copy plus the read-only segments of the mapped files. libdwfl uses each
 * module's CFI (.eh_frame, then .debug_frame) and falls back to frame
 * pointers where a pc has none. Every stack read is logged so that the
 * offset of each return address in the copy is known (for the cache). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <dwarf.h>
#include "ustack_int.h"

static pid_t next_thread(Dwfl *dwfl, void *dwfl_arg, void **thread_argp)
{
	struct us_proc *p = dwfl_arg;

	(void)dwfl;
	if (*thread_argp || !p->cap)
		return 0;
	*thread_argp = p;
	return p->cap->tid ? (pid_t)p->cap->tid : (pid_t)p->pid;
}

static bool memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *dwfl_arg)
{
	struct us_proc *p = dwfl_arg;
	const struct mw_ustack_capture *c = p->cap;
	uint64_t rsp = c->regs[7];
	const struct us_pmod *pm;

	(void)dwfl;
	if (addr >= rsp && addr - rsp <= c->stack_len && c->stack_len - (addr - rsp) >= 8) {
		uint64_t v;

		memcpy(&v, c->stack + (addr - rsp), sizeof(v));
		*result = v;
		if (addr - rsp + 8 > p->read_end)
			p->read_end = (uint32_t)(addr - rsp + 8);
		if (p->nlog < US_LOG_MAX) {
			p->log[p->nlog].off = (uint32_t)(addr - rsp);
			p->log[p->nlog].val = v;
			p->nlog++;
		}
		return true;
	}
	pm = us_proc_module(p, addr);
	if (pm && pm->mod && us_mod_read(pm->mod, addr - pm->bias, result))
		return true;
	/* Past the copy (or unknown memory): what follows can only be a guess. */
	p->read_failed = true;
	return false;
}

static bool set_initial_registers(Dwfl_Thread *thread, void *thread_arg)
{
	struct us_proc *p = thread_arg;
	Dwarf_Word regs[MW_USTACK_NREGS];

	for (int i = 0; i < MW_USTACK_NREGS; i++)
		regs[i] = p->cap->regs[i];
	/* Registers left unset are unknown to libdwfl: an unwind that needs one fails. */
	if (p->min_regs == US_REGS_IP_SP ? !dwfl_thread_state_registers(thread, 7, 1, regs + 7)
	    : p->min_regs		 ? !dwfl_thread_state_registers(thread, 6, 2, regs + 6)
			  : !dwfl_thread_state_registers(thread, 0, MW_USTACK_NREGS - 1, regs))
		return false;
	dwfl_thread_state_register_pc(thread, p->cap->regs[16]);
	return true;
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
	.next_thread = next_thread,
	.memory_read = memory_read,
	.set_initial_registers = set_initial_registers,
};

/* The per-process session gets its own Elf on the shared module's file (a
 * dup of its descriptor: no path lookup in the target's namespace again),
 * mapped whole and then cut from the descriptor, so that sessions hold no
 * descriptors: 256 processes x 100 libraries would exceed RLIMIT_NOFILE. */
static int find_elf(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
		    char **file_name, Elf **elfp)
{
	struct us_pmod *pm = *userdata;
	Elf *elf;
	int fd;

	(void)mod, (void)modname, (void)base, (void)file_name;
	*elfp = NULL;
	if (!pm || !pm->mod)
		return -1;
	fd = fcntl(pm->mod->fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	/* FDREAD reads what is not mapped (nothing when mmap worked), then lets go of fd. */
	if (elf && elf_cntl(elf, ELF_C_FDREAD)) {
		elf_end(elf);
		elf = NULL;
	}
	close(fd);
	*elfp = elf;
	return -1;
}

/* Unwinding needs the CFI only; .eh_frame is in the file itself, so do not
 * load separate debuginfo (the symbolizer's session does that, once). */
static int find_no_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
			     Dwarf_Addr base, const char *file_name, const char *debuglink_file,
			     GElf_Word debuglink_crc, char **debuginfo_file_name)
{
	(void)mod, (void)userdata, (void)modname, (void)base, (void)file_name;
	(void)debuglink_file, (void)debuglink_crc, (void)debuginfo_file_name;
	return -1;
}

static const Dwfl_Callbacks proc_callbacks = {
	.find_elf = find_elf,
	.find_debuginfo = find_no_debuginfo,
};

static int attach(struct us_proc *p)
{
	if (p->attached)
		return 0;
	if (!p->dwfl) {
		p->dwfl = dwfl_begin(&proc_callbacks);
		if (!p->dwfl)
			return -ENOMEM;
		dwfl_report_begin(p->dwfl);
		for (size_t i = 0; i < p->nmods; i++) {
			struct us_pmod *pm = &p->mods[i];
			Dwfl_Module *dm;
			void **ud;

			if (!pm->mod)
				continue;
			dm = dwfl_report_module(p->dwfl, pm->path ? pm->path : "?", pm->low,
						pm->high);
			if (dm && dwfl_module_info(dm, &ud, NULL, NULL, NULL, NULL, NULL, NULL))
				*ud = pm;
		}
		dwfl_report_end(p->dwfl, NULL, NULL);
	}
	if (!dwfl_attach_state(p->dwfl, NULL, (pid_t)p->pid, &thread_callbacks, p))
		return -ENOEXEC;
	p->attached = true;
	return 0;
}

static int frame_cb(Dwfl_Frame *frame, void *arg)
{
	struct us_proc *p = arg;
	Dwarf_Addr pc;
	bool activation;

	if (p->n > 0 && p->read_failed)
		return DWARF_CB_ABORT; /* this frame came from a guess past the copy */
	if (!dwfl_frame_pc(frame, &pc, &activation))
		return DWARF_CB_ABORT;
	if (p->n == 0) {
		p->offs[0] = 0;
	} else {
		unsigned int i;

		/* libdwfl reads a frame's return address while unwinding the frame
		 * before it, or earlier: take the first read after the previous return
		 * address that holds this one. */
		for (i = p->mark; i < p->nlog; i++)
			if (p->log[i].val == pc)
				break;
		if (i < p->nlog) {
			p->offs[p->n] = p->log[i].off;
			p->mark = i + 1;
		} else {
			p->cacheable = false;
		}
	}
	p->ips[p->n++] = pc;
	if (p->n == p->max) {
		p->hit_max = true;
		return DWARF_CB_ABORT;
	}
	return DWARF_CB_OK;
}

int us_unwind_full(struct us_proc *p, const struct mw_ustack_capture *c, uint64_t *ips,
		   uint32_t *offs, size_t max, enum mw_ucache_stop *stop, bool *cacheable)
{
	int err, rc;

	err = attach(p);
	p->cap = c;
	p->ips = ips;
	p->offs = offs;
	p->n = 0;
	p->max = max;
	p->nlog = p->mark = 0;
	p->read_failed = p->hit_max = false;
	p->read_end = 0;
	p->cacheable = true;
	if (!err) {
		rc = dwfl_getthread_frames(p->dwfl, c->tid ? (pid_t)c->tid : (pid_t)p->pid,
					   frame_cb, p);
		*stop = p->hit_max ? MW_UCACHE_MAX : rc == 0 ? MW_UCACHE_END : MW_UCACHE_COPY;
	} else {
		*stop = MW_UCACHE_COPY;
	}
	if (p->n == 0) { /* no module, no session: the probed pc is still known */
		ips[0] = c->regs[16];
		offs[0] = 0;
		p->n = 1;
		p->cacheable = false;
	}
	*cacheable = p->cacheable && p->nlog < US_LOG_MAX;
	p->cap = NULL;
	return (int)p->n;
}
