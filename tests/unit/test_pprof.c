// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* pprof profiles: built, encoded, then decoded again with protobuf-c and zlib. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "profile/pprof.h"
#include "profile/profiles.h"
#include "profile/stackprofs.h"
#include "session/faults.h"
#include "session/session.h"
#include "profile.pb-c.h"
#include "unit.h"

static Perftools__Profiles__Profile *decode(const void *gz, size_t len)
{
	size_t cap = 1 << 20;
	unsigned char *raw = malloc(cap);
	z_stream z = { 0 };
	Perftools__Profiles__Profile *p = NULL;

	if (!raw || inflateInit2(&z, 15 + 16) != Z_OK)
		return NULL;
	z.next_in = (Bytef *)gz;
	z.avail_in = (uInt)len;
	z.next_out = raw;
	z.avail_out = (uInt)cap;
	if (inflate(&z, Z_FINISH) == Z_STREAM_END)
		p = perftools__profiles__profile__unpack(NULL, z.total_out, raw);
	inflateEnd(&z);
	free(raw);
	return p;
}

static int fake_module(void *ctx, uint32_t pid, const char *path, struct mw_prof_module *m)
{
	(void)ctx;
	if (pid != 42 || strcmp(path, "/bin/app"))
		return -1;
	m->start = 0x1000;
	m->limit = 0x9000;
	snprintf(m->build_id, sizeof(m->build_id), "abcdef");
	return 0;
}

static const char *str(const Perftools__Profiles__Profile *p, int64_t i)
{
	return i >= 0 && (size_t)i < p->n_string_table ? p->string_table[i] : "?";
}

/* The function name of a location id. */
static const char *loc_func(const Perftools__Profiles__Profile *p, uint64_t id)
{
	const Perftools__Profiles__Location *l = p->location[id - 1];

	return str(p, p->function[l->line[0]->function_id - 1]->name);
}

TEST(pprof_encodes_stacks_functions_mappings)
{
	static const struct mw_pprof_type types[2] = { { "inuse_space", "bytes" },
						       { "inuse_objects", "count" } };
	struct mw_frame fr[2] = {
		{ .addr = 0x1234, .module = "/bin/app", .func = "leak", .file = "a.c", .line = 7 },
		{ .addr = 0x2000, .module = "/bin/app", .func = "main", .file = "a.c", .line = 20 },
	};
	uint64_t ips[2] = { 0x1234, 0x2000 }, ips2[1] = { 0x2000 };
	struct mw_prof_stack s1 = {
		.pid = 42, .comm = "app", .ips = ips, .frames = fr, .n = 2, .v = { 1000, 10 }
	};
	struct mw_prof_stack s2 = {
		.pid = 42, .ips = ips2, .frames = &fr[1], .n = 1, .v = { 5, 1 }
	};
	struct mw_prof_stack zero = { .pid = 42, .ips = ips, .frames = fr, .n = 2 };
	struct mw_prof_stack unknown = { .pid = 43, .v = { 64, 1 } };
	struct mw_pprof *b = mw_pprof_new(types, 2, 0, fake_module, NULL);
	Perftools__Profiles__Profile *p;
	void *gz;
	size_t len;

	CHECK(b != NULL);
	CHECK_EQ_INT(mw_pprof_add(b, &s1), 0);
	CHECK_EQ_INT(mw_pprof_add(b, &s2), 0);
	CHECK_EQ_INT(mw_pprof_add(b, &zero), 0); /* all zero: left out */
	CHECK_EQ_INT(mw_pprof_add(b, &unknown), 0);
	CHECK_EQ_INT(mw_pprof_samples(b), 3);
	CHECK_EQ_INT(mw_pprof_encode(b, 123, &gz, &len), 0);
	p = decode(gz, len);
	CHECK(p != NULL);
	CHECK_EQ_STR(p->string_table[0], "");
	CHECK_EQ_INT(p->n_sample_type, 2);
	CHECK_EQ_STR(str(p, p->sample_type[0]->type), "inuse_space");
	CHECK_EQ_STR(str(p, p->sample_type[1]->unit), "count");
	CHECK_EQ_STR(str(p, p->default_sample_type), "inuse_space");
	CHECK_EQ_INT(p->time_nanos, 123);
	CHECK_EQ_INT(p->n_sample, 3);
	/* Frames innermost first; main's location is shared by both stacks. */
	CHECK_EQ_INT(p->sample[0]->n_location_id, 2);
	CHECK_EQ_STR(loc_func(p, p->sample[0]->location_id[0]), "leak");
	CHECK_EQ_STR(loc_func(p, p->sample[0]->location_id[1]), "main");
	CHECK_EQ_INT(p->sample[1]->location_id[0], p->sample[0]->location_id[1]);
	CHECK_EQ_INT(p->sample[0]->value[0], 1000);
	CHECK_EQ_INT(p->sample[0]->value[1], 10);
	CHECK_EQ_INT(p->n_function, 3); /* leak, main, (unknown stack) */
	CHECK_EQ_STR(str(p, p->function[0]->filename), "a.c");
	CHECK_EQ_INT(p->location[0]->line[0]->line, 7);
	CHECK_EQ_INT(p->location[0]->address, 0x1234);
	/* One mapping for the file in that process, with what the module callback said. */
	CHECK_EQ_INT(p->n_mapping, 1);
	CHECK_EQ_INT(p->mapping[0]->memory_start, 0x1000);
	CHECK_EQ_INT(p->mapping[0]->memory_limit, 0x9000);
	CHECK_EQ_STR(str(p, p->mapping[0]->build_id), "abcdef");
	CHECK_EQ_STR(str(p, p->mapping[0]->filename), "/bin/app");
	CHECK(p->mapping[0]->has_functions && p->mapping[0]->has_line_numbers);
	/* A stack that could not be unwound says so in its one frame; labels carry the pid. */
	CHECK_EQ_STR(loc_func(p, p->sample[2]->location_id[0]), "(unknown stack)");
	CHECK_EQ_STR(str(p, p->sample[2]->label[0]->key), "pid");
	CHECK_EQ_INT(p->sample[2]->label[0]->num, 43);
	perftools__profiles__profile__free_unpacked(p, NULL);
	free(gz);
	mw_pprof_free(b);
}

static int one_mapping(void *ctx, struct mw_pprof *b)
{
	static const struct mw_frame f = { .addr = 0x10, .func = "grow_heap" };
	static const uint64_t ip = 0x10;
	struct mw_prof_stack s = { .pid = 1, .ips = &ip, .frames = &f, .n = 1, .v = { 4096, 0 } };

	(void)ctx;
	return mw_pprof_add(b, &s);
}

/* The mapped and resident profiles exist once a ledger registers as their source. */
TEST(pprof_profiles_sources)
{
	struct mw_profiles pr = { 0 };
	char why[128];
	void *gz = NULL;
	size_t len;
	Perftools__Profiles__Profile *p;

	CHECK_EQ_INT(mw_prof_kind("heap"), MW_PROF_HEAP);
	CHECK_EQ_INT(mw_prof_kind("resident"), MW_PROF_RESIDENT);
	CHECK_EQ_INT(mw_prof_kind("cpu"), -1);
	CHECK_EQ_INT(mw_profiles_render(&pr, MW_PROF_HEAP, 0, &gz, &len, why, sizeof(why)),
		     -ENOENT);
	CHECK(strstr(why, "--malloc") != NULL);
	CHECK_EQ_INT(mw_profiles_render(&pr, MW_PROF_MAPPED, 0, &gz, &len, why, sizeof(why)),
		     -ENOENT);
	mw_profiles_source(&pr, MW_PROF_MAPPED, one_mapping, NULL);
	CHECK_EQ_INT(mw_profiles_render(&pr, MW_PROF_MAPPED, 0, &gz, &len, why, sizeof(why)), 0);
	p = decode(gz, len);
	CHECK(p != NULL);
	CHECK_EQ_STR(str(p, p->sample_type[0]->type), "mapped_space");
	CHECK_EQ_INT(p->sample[0]->value[0], 4096);
	perftools__profiles__profile__free_unpacked(p, NULL);
	free(gz);
	CHECK_EQ_INT(mw_profiles_render(&pr, MW_PROF_RESIDENT, 0, &gz, &len, why, sizeof(why)),
		     -ENOENT);
}

/* The resident profile from --fault-stacks' ledger: each path's samples scaled by N (bytes and
 * faults), the paths past the table's room as one unknown stack, the samples a full ring lost
 * as one more, a location of its own, a comment saying they are estimates; the mapped profile is empty (not an error) before any call had a stack. */
TEST(pprof_resident_and_mapped_from_the_session)
{
	static const struct mw_sframe touch[] = {
		{ 0x401010, 0x10, "/w", "touch" },
		{ 0x401234, 0x34, "/w", "big_user" },
	};
	struct mw_session s = { 0 };
	struct mw_fprof fp = { .pid = 7 };
	struct mw_pprof *b;
	Perftools__Profiles__Profile *p;
	void *gz = NULL;
	size_t len;

	mw_model_init(&s.model, 4096);
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(mw_fprof_add(&fp, 70, touch, 2, NULL, 4), 0);
	fp.other = 2;
	fp.lost = 5;
	s.fprofs = &fp;
	s.nfprofs = 1;
	b = mw_pprof_new(mw_prof_resident_types, 2, 0, NULL, NULL);
	CHECK(b != NULL);
	CHECK_EQ_INT(mw_prof_resident(&s, b), 0);
	CHECK_EQ_INT(mw_pprof_samples(b), 3);
	CHECK_EQ_INT(mw_pprof_encode(b, 0, &gz, &len), 0);
	p = decode(gz, len);
	CHECK(p != NULL);
	CHECK_EQ_STR(str(p, p->sample_type[0]->type), "faulted_space");
	CHECK_EQ_INT(p->sample[0]->value[0], 3 * 4 * 4096);
	CHECK_EQ_INT(p->sample[0]->value[1], 3 * 4);
	CHECK_EQ_STR(loc_func(p, p->sample[0]->location_id[0]), "touch");
	CHECK_EQ_STR(loc_func(p, p->sample[0]->location_id[1]), "big_user");
	CHECK_EQ_INT(p->sample[1]->value[0], 2 * 4 * 4096);
	CHECK_EQ_STR(loc_func(p, p->sample[1]->location_id[0]), "(unknown stack)");
	CHECK_EQ_INT(p->sample[2]->value[0], 5 * 4 * 4096);
	CHECK_EQ_INT(p->sample[2]->value[1], 5 * 4);
	CHECK_EQ_STR(loc_func(p, p->sample[2]->location_id[0]), "(stacks lost: ring full)");
	CHECK(p->n_comment == 1 && strstr(str(p, p->comment[0]), "1 in 4") != NULL);
	perftools__profiles__profile__free_unpacked(p, NULL);
	free(gz);
	mw_pprof_free(b);
	b = mw_pprof_new(mw_prof_mapped_types, 2, 0, NULL, NULL);
	CHECK(b != NULL);
	CHECK_EQ_INT(mw_prof_mapped(&s, b), 0);
	CHECK_EQ_INT(mw_pprof_samples(b), 0);
	mw_pprof_free(b);
	mw_fprof_free(&fp);
	mw_model_free(&s.model);
}
