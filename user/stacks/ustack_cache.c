// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The verified unwind cache: set-associative, LRU within a set, fixed size. */
#include <stdlib.h>
#include <string.h>
#include "ustack_cache.h"

void mw_ucache_init(struct mw_ucache *c, uint32_t nsets)
{
	uint32_t n = 1;

	while (n < nsets && n < (1u << 20))
		n <<= 1;
	memset(c, 0, sizeof(*c));
	c->nsets = n;
}

void mw_ucache_free(struct mw_ucache *c)
{
	free(c->e);
	c->e = NULL;
	c->st.entries = 0;
	c->st.bytes = 0; /* bytes: the table, allocated whole on first insert */
}

static uint32_t set_of(const struct mw_ucache *c, uint32_t pid, uint64_t pc)
{
	uint64_t h = (pc ^ ((uint64_t)pid << 32 | pid)) * 0x9e3779b97f4a7c15ull;

	return (uint32_t)(h >> 32) & (c->nsets - 1);
}

/* Every return address of e lies at its offset in this copy. */
static int verified(const struct mw_ucache_entry *e, const uint8_t *stack, uint32_t stack_len)
{
	for (uint32_t i = 1; i < e->n; i++) {
		uint64_t w;

		if ((uint64_t)e->offs[i] + sizeof(w) > stack_len)
			return 0;
		memcpy(&w, stack + e->offs[i], sizeof(w));
		if (w != e->ips[i])
			return 0;
	}
	return 1;
}

/* Would a full unwind of this capture stop where e stopped? */
static int complete_for(const struct mw_ucache_entry *e, uint32_t stack_len, size_t max)
{
	switch (e->stop) {
	case MW_UCACHE_END: return 1;
	case MW_UCACHE_MAX: return max <= e->n;
	default: /* a longer copy might have let the unwinder go further */
		return stack_len <= e->copy_len || max <= e->n;
	}
}

size_t mw_ucache_lookup(struct mw_ucache *c, uint32_t pid, uint64_t pc, const uint8_t *stack,
			uint32_t stack_len, uint64_t *ips, size_t max)
{
	struct mw_ucache_entry *set;

	if (!c->e || max == 0) {
		c->st.misses++;
		return 0;
	}
	set = c->e + (size_t)set_of(c, pid, pc) * MW_UCACHE_WAYS;
	for (int w = 0; w < MW_UCACHE_WAYS; w++) {
		struct mw_ucache_entry *e = &set[w];
		size_t n;

		if (!e->tick || e->pid != pid || e->pc != pc || !complete_for(e, stack_len, max) ||
		    !verified(e, stack, stack_len))
			continue;
		n = e->n < max ? e->n : max;
		memcpy(ips, e->ips, n * sizeof(*ips));
		e->tick = ++c->tick;
		c->hit_read_end = e->read_end;
		c->st.hits++;
		return n;
	}
	c->st.misses++;
	return 0;
}

void mw_ucache_insert(struct mw_ucache *c, uint32_t pid, const uint64_t *ips, const uint32_t *offs,
		      size_t n, enum mw_ucache_stop stop, uint32_t copy_len, uint32_t read_end)
{
	struct mw_ucache_entry *set, *victim;

	if (n == 0 || n > MW_UCACHE_MAXF || c->nsets == 0)
		return;
	if (!c->e) {
		c->e = calloc((size_t)c->nsets * MW_UCACHE_WAYS, sizeof(*c->e));
		if (!c->e)
			return;
		c->st.bytes = (uint64_t)c->nsets * MW_UCACHE_WAYS * sizeof(*c->e);
	}
	set = c->e + (size_t)set_of(c, pid, ips[0]) * MW_UCACHE_WAYS;
	victim = &set[0];
	for (int w = 0; w < MW_UCACHE_WAYS; w++) {
		if (!set[w].tick) {
			victim = &set[w];
			break;
		}
		if (set[w].tick < victim->tick)
			victim = &set[w];
	}
	if (victim->tick)
		c->st.evictions++;
	else
		c->st.entries++;
	victim->pid = pid;
	victim->pc = ips[0];
	victim->n = (uint16_t)n;
	victim->stop = (uint16_t)stop;
	victim->copy_len = copy_len;
	victim->read_end = stop == MW_UCACHE_END ? read_end : 0;
	memcpy(victim->ips, ips, n * sizeof(*ips));
	victim->offs[0] = 0;
	memcpy(victim->offs + 1, offs + 1, (n - 1) * sizeof(*offs));
	victim->tick = ++c->tick;
	c->st.inserts++;
}

void mw_ucache_drop_pid(struct mw_ucache *c, uint32_t pid)
{
	size_t total = (size_t)c->nsets * MW_UCACHE_WAYS;

	if (!c->e)
		return;
	for (size_t i = 0; i < total; i++) {
		if (c->e[i].tick && c->e[i].pid == pid) {
			c->e[i].tick = 0;
			c->st.entries--;
		}
	}
}
