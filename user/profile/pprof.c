// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* pprof profiles. See pprof.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "base/grow.h"
#include "pprof.h"
#include "profile.pb-c.h"

/* Open addressing, linear probing: idx is 1-based into the owner's array, 0 = empty. */
struct ht_slot {
	uint64_t hash;
	uint32_t idx;
};

struct htab {
	struct ht_slot *v;
	size_t mask, n;
};

struct fn_ent {
	int64_t name, file;
};

struct map_ent {
	uint32_t pid;
	int64_t file;
	struct mw_prof_module m;
};

struct loc_ent {
	uint32_t pid;
	uint64_t addr;
	uint64_t mapping; /* id, 0 = none */
	uint64_t function;
	int64_t line;
};

struct sample_ent {
	uint64_t *locs; /* ids */
	uint32_t nlocs;
	uint32_t pid;
	int64_t comm; /* string index, 0 = none */
	int64_t v[MW_PROF_MAX_TYPES];
};

struct mw_pprof {
	struct mw_pprof_type types[MW_PROF_MAX_TYPES];
	int ntypes, default_type;
	mw_prof_module_fn module;
	void *module_ctx;
	char **strs;
	size_t nstrs, capstrs;
	struct htab hstr, hfn, hmap, hloc;
	struct fn_ent *fns;
	size_t nfns, capfns;
	struct map_ent *maps;
	size_t nmaps, capmaps;
	struct loc_ent *locs;
	size_t nlocs, caplocs;
	struct sample_ent *samples;
	size_t nsamples, capsamples;
	int64_t comments[MW_PROF_MAX_COMMENTS]; /* string table indices */
	size_t ncomments;
};

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdULL;
}

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static int ht_grow(struct htab *h)
{
	size_t size = h->v ? (h->mask + 1) * 2 : 64;
	struct ht_slot *v = calloc(size, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; h->v && i <= h->mask; i++) {
		size_t k = h->v[i].hash & (size - 1);

		if (!h->v[i].idx)
			continue;
		while (v[k].idx)
			k = (k + 1) & (size - 1);
		v[k] = h->v[i];
	}
	free(h->v);
	h->v = v;
	h->mask = size - 1;
	return 0;
}

/* The slot of hash for which eq(ctx, idx) holds, or the empty slot to fill; NULL: no memory. */
static struct ht_slot *ht_find(struct htab *h, uint64_t hash, bool (*eq)(const void *, uint32_t),
			       const void *ctx)
{
	size_t k;

	if ((!h->v || (h->n + 1) * 2 > h->mask + 1) && ht_grow(h))
		return NULL;
	for (k = hash & h->mask; h->v[k].idx; k = (k + 1) & h->mask)
		if (h->v[k].hash == hash && eq(ctx, h->v[k].idx))
			break;
	return &h->v[k];
}

struct str_key {
	const struct mw_pprof *b;
	const char *s;
};

static bool str_eq(const void *ctx, uint32_t idx)
{
	const struct str_key *k = ctx;

	return !strcmp(k->b->strs[idx - 1], k->s);
}

/* The string table index of s ("" is 0); -1 when out of memory. */
static int64_t intern(struct mw_pprof *b, const char *s)
{
	struct str_key key = { b, s ? s : "" };
	uint64_t hash = str_hash(key.s);
	struct ht_slot *slot = ht_find(&b->hstr, hash, str_eq, &key);
	char *copy;

	if (!slot)
		return -1;
	if (slot->idx)
		return slot->idx - 1;
	if (mw_grow(&b->strs, b->nstrs, &b->capstrs, sizeof(*b->strs), 64) ||
	    !(copy = strdup(key.s)))
		return -1;
	b->strs[b->nstrs++] = copy;
	slot->hash = hash;
	slot->idx = (uint32_t)b->nstrs;
	b->hstr.n++;
	return (int64_t)b->nstrs - 1;
}

struct mw_pprof *mw_pprof_new(const struct mw_pprof_type *types, int ntypes, int default_type,
			      mw_prof_module_fn module, void *module_ctx)
{
	struct mw_pprof *b = calloc(1, sizeof(*b));

	if (!b || ntypes < 1 || ntypes > MW_PROF_MAX_TYPES) {
		free(b);
		return NULL;
	}
	memcpy(b->types, types, (size_t)ntypes * sizeof(*types));
	b->ntypes = ntypes;
	b->default_type = default_type;
	b->module = module;
	b->module_ctx = module_ctx;
	if (intern(b, "") != 0) {
		mw_pprof_free(b);
		return NULL;
	}
	return b;
}

int mw_pprof_comment(struct mw_pprof *b, const char *text)
{
	int64_t ix;

	if (b->ncomments == MW_PROF_MAX_COMMENTS)
		return 0; /* the first ones say it already */
	ix = intern(b, text);
	if (ix < 0)
		return -ENOMEM;
	b->comments[b->ncomments++] = ix;
	return 0;
}

void mw_pprof_free(struct mw_pprof *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->nstrs; i++)
		free(b->strs[i]);
	for (size_t i = 0; i < b->nsamples; i++)
		free(b->samples[i].locs);
	free(b->strs);
	free(b->fns);
	free(b->maps);
	free(b->locs);
	free(b->samples);
	free(b->hstr.v);
	free(b->hfn.v);
	free(b->hmap.v);
	free(b->hloc.v);
	free(b);
}

struct fn_key {
	const struct mw_pprof *b;
	struct fn_ent e;
};

static bool fn_eq(const void *ctx, uint32_t idx)
{
	const struct fn_key *k = ctx;
	const struct fn_ent *e = &k->b->fns[idx - 1];

	return e->name == k->e.name && e->file == k->e.file;
}

static uint64_t function_id(struct mw_pprof *b, const char *name, const char *file)
{
	struct fn_key key = { b, { intern(b, name), intern(b, file) } };
	uint64_t hash = mix(mix(7, (uint64_t)key.e.name), (uint64_t)key.e.file);
	struct ht_slot *slot;

	if (key.e.name < 0 || key.e.file < 0 || !(slot = ht_find(&b->hfn, hash, fn_eq, &key)))
		return 0;
	if (slot->idx)
		return slot->idx;
	if (mw_grow(&b->fns, b->nfns, &b->capfns, sizeof(*b->fns), 64))
		return 0;
	b->fns[b->nfns++] = key.e;
	slot->hash = hash;
	slot->idx = (uint32_t)b->nfns;
	b->hfn.n++;
	return b->nfns;
}

struct map_key {
	const struct mw_pprof *b;
	uint32_t pid;
	int64_t file;
};

static bool map_eq(const void *ctx, uint32_t idx)
{
	const struct map_key *k = ctx;
	const struct map_ent *e = &k->b->maps[idx - 1];

	return e->pid == k->pid && e->file == k->file;
}

/* The mapping of module path in pid (0: none, or no memory). */
static uint64_t mapping_id(struct mw_pprof *b, uint32_t pid, const char *path)
{
	struct map_key key = { b, pid, intern(b, path) };
	uint64_t hash = mix(mix(11, pid), (uint64_t)key.file);
	struct ht_slot *slot;
	struct map_ent *e;

	if (key.file <= 0 || !(slot = ht_find(&b->hmap, hash, map_eq, &key)))
		return 0;
	if (slot->idx)
		return slot->idx;
	if (mw_grow(&b->maps, b->nmaps, &b->capmaps, sizeof(*b->maps), 16))
		return 0;
	e = &b->maps[b->nmaps++];
	memset(e, 0, sizeof(*e));
	e->pid = pid;
	e->file = key.file;
	if (b->module && b->module(b->module_ctx, pid, path, &e->m))
		memset(&e->m, 0, sizeof(e->m));
	e->m.build_id[sizeof(e->m.build_id) - 1] = '\0';
	slot->hash = hash;
	slot->idx = (uint32_t)b->nmaps;
	b->hmap.n++;
	return b->nmaps;
}

struct loc_key {
	const struct mw_pprof *b;
	uint32_t pid;
	uint64_t addr;
	uint64_t fn; /* addr 0 (a frame that stands for a stack not known): its label's function */
};

static bool loc_eq(const void *ctx, uint32_t idx)
{
	const struct loc_key *k = ctx;
	const struct loc_ent *e = &k->b->locs[idx - 1];

	return e->pid == k->pid && e->addr == k->addr && (k->addr || e->function == k->fn);
}

/* A frame's location: its address in pid, its function, file and line, its file's mapping. */
static uint64_t location_id(struct mw_pprof *b, uint32_t pid, uint64_t addr,
			    const struct mw_frame *f)
{
	struct loc_key key = { b, pid, addr, 0 };
	uint64_t hash = mix(mix(13, pid), addr);
	struct ht_slot *slot;
	struct loc_ent e = { .pid = pid, .addr = addr };
	char hex[32];

	/* Labels without an address ("(unknown stack)", ...) are told apart by their name. */
	if (!addr && f && f->func) {
		key.fn = function_id(b, f->func, f->file);
		if (!key.fn)
			return 0;
		hash = mix(hash, key.fn);
	}
	slot = ht_find(&b->hloc, hash, loc_eq, &key);
	if (!slot)
		return 0;
	if (slot->idx)
		return slot->idx;
	if (f && f->module)
		e.mapping = mapping_id(b, pid, f->module);
	if (f && f->func) {
		e.function = function_id(b, f->func, f->file);
		e.line = f->line;
	} else {
		/* Unnamed: the address stands for the function, so it stays visible. */
		snprintf(hex, sizeof(hex), "0x%llx", (unsigned long long)addr);
		e.function = function_id(b, hex, f ? f->file : NULL);
	}
	if (!e.function || mw_grow(&b->locs, b->nlocs, &b->caplocs, sizeof(*b->locs), 64))
		return 0;
	/* ht_find's slot may have moved when the calls above grew the table. */
	slot = ht_find(&b->hloc, hash, loc_eq, &key);
	if (!slot)
		return 0;
	b->locs[b->nlocs++] = e;
	slot->hash = hash;
	slot->idx = (uint32_t)b->nlocs;
	b->hloc.n++;
	return b->nlocs;
}

int mw_pprof_add(struct mw_pprof *b, const struct mw_prof_stack *s)
{
	struct sample_ent *e;
	bool any = false;
	uint32_t n = s->n ? s->n : 1;

	for (int i = 0; i < b->ntypes; i++)
		any |= s->v[i] != 0;
	if (!any)
		return 0;
	if (mw_grow(&b->samples, b->nsamples, &b->capsamples, sizeof(*b->samples), 64))
		return -ENOMEM;
	e = &b->samples[b->nsamples];
	memset(e, 0, sizeof(*e));
	e->locs = calloc(n, sizeof(*e->locs));
	if (!e->locs)
		return -ENOMEM;
	if (!s->n) {
		/* A stack that could not be unwound: one frame that says so. */
		struct mw_frame unknown = { .func = "(unknown stack)" };

		e->locs[0] = location_id(b, s->pid, 0, &unknown);
	}
	for (uint32_t k = 0; k < s->n; k++)
		e->locs[k] = location_id(b, s->pid, s->ips[k], s->frames ? &s->frames[k] : NULL);
	for (uint32_t k = 0; k < n; k++)
		if (!e->locs[k]) {
			free(e->locs);
			return -ENOMEM;
		}
	e->nlocs = n;
	e->pid = s->pid;
	e->comm = s->comm && *s->comm ? intern(b, s->comm) : 0;
	if (e->comm < 0) {
		free(e->locs);
		return -ENOMEM;
	}
	memcpy(e->v, s->v, sizeof(e->v));
	b->nsamples++;
	return 0;
}

size_t mw_pprof_samples(const struct mw_pprof *b)
{
	return b->nsamples;
}

/* gzip of in (what pprof readers expect), malloc'd. */
static int gzip(const uint8_t *in, size_t len, void **out, size_t *outlen)
{
	z_stream z = { 0 };
	uLong cap = compressBound((uLong)len) + 64;
	uint8_t *buf = malloc(cap);

	if (!buf || deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		free(buf);
		return -ENOMEM;
	}
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = buf;
	z.avail_out = (uInt)cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
		deflateEnd(&z);
		free(buf);
		return -ENOMEM;
	}
	*outlen = z.total_out;
	deflateEnd(&z);
	*out = buf;
	return 0;
}

/* All of the encoding's allocations, freed together. */
struct enc {
	Perftools__Profiles__ValueType *vt, *vtp[MW_PROF_MAX_TYPES];
	Perftools__Profiles__Sample *s, **sp;
	Perftools__Profiles__Label *lab, **labp;
	int64_t *vals;
	Perftools__Profiles__Mapping *m, **mp;
	Perftools__Profiles__Location *l, **lp;
	Perftools__Profiles__Line *ln, **lnp;
	Perftools__Profiles__Function *f, **fp;
};

static void enc_free(struct enc *e)
{
	free(e->vt);
	free(e->s);
	free(e->sp);
	free(e->lab);
	free(e->labp);
	free(e->vals);
	free(e->m);
	free(e->mp);
	free(e->l);
	free(e->lp);
	free(e->ln);
	free(e->lnp);
	free(e->f);
	free(e->fp);
}

static int build_ids(struct mw_pprof *b, int64_t *ids)
{
	for (size_t i = 0; i < b->nmaps; i++)
		if ((ids[i] = intern(b, b->maps[i].m.build_id)) < 0)
			return -ENOMEM;
	return 0;
}

static void fill_samples(struct mw_pprof *b, struct enc *e, int64_t k_pid, int64_t k_comm)
{
	for (size_t i = 0; i < b->nsamples; i++) {
		struct sample_ent *se = &b->samples[i];
		Perftools__Profiles__Sample *s = &e->s[i];
		Perftools__Profiles__Label *lab = &e->lab[2 * i];

		perftools__profiles__sample__init(s);
		s->n_location_id = se->nlocs;
		s->location_id = se->locs;
		s->n_value = (size_t)b->ntypes;
		s->value = &e->vals[i * (size_t)b->ntypes];
		memcpy(s->value, se->v, (size_t)b->ntypes * sizeof(int64_t));
		perftools__profiles__label__init(&lab[0]);
		lab[0].key = k_pid;
		lab[0].num = se->pid;
		e->labp[2 * i] = &lab[0];
		s->label = &e->labp[2 * i];
		s->n_label = 1;
		if (se->comm) {
			perftools__profiles__label__init(&lab[1]);
			lab[1].key = k_comm;
			lab[1].str = se->comm;
			e->labp[2 * i + 1] = &lab[1];
			s->n_label = 2;
		}
		e->sp[i] = s;
	}
}

static void fill_tables(struct mw_pprof *b, struct enc *e, const int64_t *bids)
{
	for (size_t i = 0; i < b->nmaps; i++) {
		Perftools__Profiles__Mapping *m = &e->m[i];

		perftools__profiles__mapping__init(m);
		m->id = i + 1;
		m->memory_start = b->maps[i].m.start;
		m->memory_limit = b->maps[i].m.limit;
		m->file_offset = b->maps[i].m.offset;
		m->filename = b->maps[i].file;
		m->build_id = bids[i];
		/* Named already: readers must not symbolize again (the files may be gone). */
		m->has_functions = m->has_filenames = m->has_line_numbers = true;
		e->mp[i] = m;
	}
	for (size_t i = 0; i < b->nlocs; i++) {
		Perftools__Profiles__Location *l = &e->l[i];
		Perftools__Profiles__Line *ln = &e->ln[i];

		perftools__profiles__location__init(l);
		perftools__profiles__line__init(ln);
		l->id = i + 1;
		l->mapping_id = b->locs[i].mapping;
		l->address = b->locs[i].addr;
		ln->function_id = b->locs[i].function;
		ln->line = b->locs[i].line;
		e->lnp[i] = ln;
		l->line = &e->lnp[i];
		l->n_line = 1;
		e->lp[i] = l;
	}
	for (size_t i = 0; i < b->nfns; i++) {
		Perftools__Profiles__Function *f = &e->f[i];

		perftools__profiles__function__init(f);
		f->id = i + 1;
		f->name = f->system_name = b->fns[i].name;
		f->filename = b->fns[i].file;
		e->fp[i] = f;
	}
}

int mw_pprof_encode(struct mw_pprof *b, uint64_t time_ns, void **out, size_t *len)
{
	Perftools__Profiles__Profile p = PERFTOOLS__PROFILES__PROFILE__INIT;
	int64_t k_pid = intern(b, "pid"), k_comm = intern(b, "comm"), *bids, tix[2];
	size_t ns = b->nsamples, nt = (size_t)b->ntypes;
	struct enc e = { 0 };
	uint8_t *raw = NULL;
	size_t rawlen;
	int ret = -ENOMEM;

	bids = calloc(b->nmaps + 1, sizeof(*bids));
	if (k_pid < 0 || k_comm < 0 || !bids || build_ids(b, bids))
		goto out;
	e.vt = calloc(nt, sizeof(*e.vt));
	e.s = calloc(ns + 1, sizeof(*e.s));
	e.sp = calloc(ns + 1, sizeof(*e.sp));
	e.lab = calloc(2 * ns + 1, sizeof(*e.lab));
	e.labp = calloc(2 * ns + 1, sizeof(*e.labp));
	e.vals = calloc(ns * nt + 1, sizeof(*e.vals));
	e.m = calloc(b->nmaps + 1, sizeof(*e.m));
	e.mp = calloc(b->nmaps + 1, sizeof(*e.mp));
	e.l = calloc(b->nlocs + 1, sizeof(*e.l));
	e.lp = calloc(b->nlocs + 1, sizeof(*e.lp));
	e.ln = calloc(b->nlocs + 1, sizeof(*e.ln));
	e.lnp = calloc(b->nlocs + 1, sizeof(*e.lnp));
	e.f = calloc(b->nfns + 1, sizeof(*e.f));
	e.fp = calloc(b->nfns + 1, sizeof(*e.fp));
	if (!e.vt || !e.s || !e.sp || !e.lab || !e.labp || !e.vals || !e.m || !e.mp || !e.l ||
	    !e.lp || !e.ln || !e.lnp || !e.f || !e.fp)
		goto out;
	for (size_t i = 0; i < nt; i++) {
		perftools__profiles__value_type__init(&e.vt[i]);
		tix[0] = intern(b, b->types[i].type);
		tix[1] = intern(b, b->types[i].unit);
		if (tix[0] < 0 || tix[1] < 0)
			goto out;
		e.vt[i].type = tix[0];
		e.vt[i].unit = tix[1];
		e.vtp[i] = &e.vt[i];
	}
	fill_samples(b, &e, k_pid, k_comm);
	fill_tables(b, &e, bids);
	p.n_sample_type = nt;
	p.sample_type = e.vtp;
	p.n_sample = ns;
	p.sample = e.sp;
	p.n_mapping = b->nmaps;
	p.mapping = e.mp;
	p.n_location = b->nlocs;
	p.location = e.lp;
	p.n_function = b->nfns;
	p.function = e.fp;
	p.n_string_table = b->nstrs;
	p.string_table = b->strs;
	p.time_nanos = (int64_t)time_ns;
	p.n_comment = b->ncomments;
	p.comment = b->comments;
	p.default_sample_type = e.vt[b->default_type].type;
	rawlen = perftools__profiles__profile__get_packed_size(&p);
	raw = malloc(rawlen + 1);
	if (!raw)
		goto out;
	perftools__profiles__profile__pack(&p, raw);
	ret = gzip(raw, rawlen, out, len);
out:
	free(raw);
	free(bids);
	enc_free(&e);
	return ret;
}
