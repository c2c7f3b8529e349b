// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The in-process sampler from memwatch's side. See msampler.h. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include "base/errmsg.h"
#include "elfsyms.h"
#include "ledger/procfs.h"
#include "ledger/regions.h"
#include "mledger.h"
#include "mprobe.h"
#include "msampler.h"
#include "sampler/sampler.h"

static bool is_sampler_name(const char *path)
{
	return !strncmp(mw_path_base(path), MWS_LIB_PREFIX, strlen(MWS_LIB_PREFIX));
}

int mw_msampler_in_preload(const char *preload, char *entry, size_t entrysz)
{
	int idx = 0;

	while (preload && *preload) {
		size_t len = strcspn(preload, ": ");

		if (len) {
			char name[PATH_MAX];

			snprintf(name, sizeof(name), "%.*s", (int)len, preload);
			if (is_sampler_name(name)) {
				snprintf(entry, entrysz, "%s", name);
				return idx;
			}
			idx++;
		}
		preload += len;
		preload += strspn(preload, ": ");
	}
	return -1;
}

uint64_t mw_msampler_mean_of(const char *env, size_t envlen)
{
	const char *v = mw_environ_get(env, envlen, MWS_ENV_BYTES);
	uint64_t mean = v && *v ? mws_parse_bytes(v) : 0;

	return mean ? mean : MWS_DEFAULT_BYTES;
}

uint32_t mw_msampler_skip(const struct mw_frame *f, uint32_t n)
{
	uint32_t k = 0;

	while (k < n && f[k].module && is_sampler_name(f[k].module))
		k++;
	if (!k)
		return 0; /* not a stack taken in the sampler */
	while (k < n && f[k].module && !strncmp(mw_path_base(f[k].module), "libstdc++", 9) &&
	       f[k].func && !strncmp(f[k].func, "operator new", 12))
		k++;
	return k;
}

/* A library name of LD_PRELOAD as ld.so finds it: its path in pid's mount namespace. */
static bool lib_name(uint32_t pid, const char *entry, char *name, size_t sz)
{
	static const char *const dirs[] = { "/lib/x86_64-linux-gnu",
					    "/usr/lib/x86_64-linux-gnu",
					    "/lib64",
					    "/usr/lib64",
					    "/lib",
					    "/usr/lib",
					    "/usr/local/lib" };
	char path[PATH_MAX + 32];

	if (strchr(entry, '/')) {
		snprintf(name, sz, "%s", entry);
		snprintf(path, sizeof(path), "/proc/%u/root%s", pid, name);
		return access(path, R_OK) == 0;
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(name, sz, "%s/%s", dirs[i], entry);
		snprintf(path, sizeof(path), "/proc/%u/root%s", pid, name);
		if (access(path, R_OK) == 0)
			return true;
	}
	return false;
}

static bool defines_malloc(const char *path)
{
	static const char *const name[] = { "malloc" };
	uint64_t off = 0;

	return mw_elf_find_funcs(path, name, 1, &off) > 0 && off;
}

/*
 * Does the sampler interpose malloc in pid? Only if nothing the dynamic loader
 * searches first defines malloc: the executable itself, or an LD_PRELOAD
 * entry before the sampler's.
 */
static bool interposes(uint32_t pid, const char *preload, int idx)
{
	char path[PATH_MAX + 32], name[PATH_MAX], list[4096], *save = NULL;
	int i = 0;

	snprintf(path, sizeof(path), "/proc/%u/exe", pid);
	if (defines_malloc(path))
		return false;
	snprintf(list, sizeof(list), "%s", preload ? preload : "");
	for (char *t = strtok_r(list, ": ", &save); t && i < idx; t = strtok_r(NULL, ": ", &save)) {
		i++;
		if (!lib_name(pid, t, name, sizeof(name)))
			continue;
		snprintf(path, sizeof(path), "/proc/%u/root%s", pid, name);
		if (defines_malloc(path))
			return false;
	}
	return true;
}

/* The sampler's file as mapped in pid (its name there), or "" when it is not mapped. */
static void mapped_sampler(uint32_t pid, char *name, size_t sz)
{
	struct mw_regions maps;

	*name = '\0';
	mw_regions_init(&maps);
	if (mw_read_maps(pid, &maps) == 0)
		for (size_t i = 0; i < maps.n && !*name; i++)
			if (maps.v[i].name && maps.v[i].name[0] == '/' &&
			    (maps.v[i].prot & PROT_EXEC) && is_sampler_name(maps.v[i].name))
				snprintf(name, sz, "%s", maps.v[i].name);
	mw_regions_free(&maps);
}

int mw_msampler_attach(struct mw_mprobe *m, struct mw_mledger *ml, uint32_t pid, const char *comm,
		       bool before_libs, char *err, size_t errsz)
{
	char name[PATH_MAX], entry[PATH_MAX], path[PATH_MAX + 32], *env = NULL;
	const char *preload = NULL;
	size_t envlen = 0;
	uint64_t mean;
	int idx = -1, ret;

	*name = '\0';
	if (mw_read_environ(pid, &env, &envlen) == 0)
		preload = mw_environ_get(env, envlen, "LD_PRELOAD");
	if (preload)
		idx = mw_msampler_in_preload(preload, entry, sizeof(entry));
	if (before_libs) {
		if (idx < 0 || !lib_name(pid, entry, name, sizeof(name)))
			*name = '\0';
	} else {
		mapped_sampler(pid, name, sizeof(name));
	}
	if (!*name) {
		free(env);
		return MW_MSAMPLER_NONE;
	}
	if (idx < 0 || !interposes(pid, preload, idx)) {
		free(env);
		return MW_MSAMPLER_BYPASSED;
	}
	mean = mw_msampler_mean_of(env, envlen);
	free(env);
	snprintf(path, sizeof(path), "/proc/%u/root%s", pid, name);
	ret = mw_mprobe_add_sampler(m, pid, path);
	if (ret)
		return mw_fail(err, errsz, ret, "cannot attach to the sampler's probes in %s: %s",
			       name, strerror(-ret));
	/* The hold at exit(), so the last samples are unwound while the process is there. */
	ret = mw_mprobe_add_exit(m, pid, before_libs);
	if (ret < 0)
		return mw_fail(err, errsz, ret, "cannot attach the exit() probe: %s",
			       strerror(-ret));
	mw_mledger_proc(ml, pid, comm, name, before_libs ? 0 : MW_MPROC_MIDLIFE);
	mw_mledger_sampler(ml, pid, mean);
	return MW_MSAMPLER_ATTACHED;
}

/* The library next to this memwatch: installed (../lib/memwatch/), or in its build tree. */
static bool find_lib(char *out, size_t sz)
{
	static const char *const rel[] = { "/../lib/memwatch/libmemwatch-sampler.so",
					   "/.output/libmemwatch-sampler.so" };
	const char *env = getenv("MEMWATCH_SAMPLER");
	char exe[PATH_MAX], cand[PATH_MAX + 64];
	ssize_t n;

	if (sz < PATH_MAX)
		return false;
	if (env && *env)
		return realpath(env, out) != NULL;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		snprintf(cand, sizeof(cand), "%s%s", exe, rel[i]);
		if (access(cand, R_OK) == 0 && realpath(cand, out))
			return true;
	}
	return false;
}

int mw_msampler_preload(char *err, size_t errsz)
{
	const char *old = getenv("LD_PRELOAD");
	char lib[PATH_MAX], *val;
	size_t len;

	if (!find_lib(lib, sizeof(lib)))
		return mw_fail(err, errsz, -1,
			       "--sampler: libmemwatch-sampler.so not found (%s, or next to "
			       "memwatch: ../lib/memwatch/, .output/); set MEMWATCH_SAMPLER",
			       getenv("MEMWATCH_SAMPLER") ? getenv("MEMWATCH_SAMPLER")
							  : "MEMWATCH_SAMPLER unset");
	/* First: it must see malloc before any allocator preloaded after it. */
	len = strlen(lib) + (old ? strlen(old) + 1 : 0) + 1;
	val = malloc(len);
	if (!val)
		return mw_fail(err, errsz, -1, "out of memory");
	snprintf(val, len, "%s%s%s", lib, old && *old ? ":" : "", old ? old : "");
	if (setenv("LD_PRELOAD", val, 1)) {
		free(val);
		return mw_fail(err, errsz, -1, "LD_PRELOAD: %s", strerror(errno));
	}
	free(val);
	return 0;
}

uint32_t mw_msampler_trim(struct mw_symbolizer *sym, uint32_t pid, uint64_t *ips, uint32_t n)
{
	struct mw_frame f[8];
	uint32_t m = n < 8 ? n : 8, k;

	for (uint32_t i = 0; i < m; i++)
		if (mw_sym_resolve_ip(sym, pid, ips[i], i > 0, &f[i]))
			memset(&f[i], 0, sizeof(f[i]));
	k = mw_msampler_skip(f, m);
	memmove(ips, ips + k, (n - k) * sizeof(*ips));
	return n - k;
}
