// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The configuration file, through the command-line parser. See config.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "cli.h"
#include "config.h"
#include "base/errmsg.h"
#include "base/grow.h"

void mw_confbuf_free(struct mw_confbuf *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->strs[i]);
	free(b->strs);
	memset(b, 0, sizeof(*b));
}

static char *keep_str(struct mw_confbuf *b, const char *s, size_t len)
{
	char *c;

	if (mw_grow(&b->strs, b->n, &b->cap, sizeof(*b->strs), 16))
		return NULL;
	c = strndup(s, len);
	if (c)
		b->strs[b->n++] = c;
	return c;
}

const char *mw_confbuf_dup(struct mw_confbuf *b, const char *s)
{
	return keep_str(b, s, strlen(s));
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* One `key [= value]` line, trimmed, not a comment. */
static int parse_line(const char *name, int lineno, const char *line, size_t len,
		      struct mw_config *cfg, struct mw_confbuf *keep, char *err, size_t errsz)
{
	const char *eq = memchr(line, '=', len), *kend = eq ? eq : line + len;
	const char *v = eq ? eq + 1 : line + len, *vend = line + len;
	char key[64], why[256], *argv[4] = { "memwatch" };
	int argc = 1, has_arg;

	while (kend > line && is_blank(kend[-1]))
		kend--;
	while (v < vend && is_blank(*v))
		v++;
	while (vend > v && is_blank(vend[-1]))
		vend--;
	if (kend == line || (size_t)(kend - line) >= sizeof(key) - 2)
		return mw_fail(err, errsz, -1, "%s:%d: expected 'key = value'", name, lineno);
	memcpy(key, "--", 2);
	memcpy(key + 2, line, kend - line);
	key[2 + (kend - line)] = '\0';
	for (char *k = key + 2; *k; k++)
		if (is_blank(*k))
			return mw_fail(err, errsz, -1, "%s:%d: expected 'key = value'", name,
				       lineno);
	has_arg = mw_cli_option_has_arg(key + 2);
	if (has_arg < 0)
		return mw_fail(err, errsz, -1, "%s:%d: unknown key '%s'", name, lineno, key + 2);
	if (!strcmp(key + 2, "config"))
		return mw_fail(err, errsz, -1, "%s:%d: a config file cannot name another", name,
			       lineno);
	if (has_arg && v == vend)
		return mw_fail(err, errsz, -1, "%s:%d: '%s' needs a value", name, lineno, key + 2);
	if (!has_arg && v != vend) {
		size_t n = vend - v;

		if ((n == 5 && !strncasecmp(v, "false", 5)) ||
		    (n == 2 && !strncasecmp(v, "no", 2)) || (n == 3 && !strncasecmp(v, "off", 3)) ||
		    (n == 1 && *v == '0'))
			return 0;
		if (!((n == 4 && !strncasecmp(v, "true", 4)) ||
		      (n == 3 && !strncasecmp(v, "yes", 3)) ||
		      (n == 2 && !strncasecmp(v, "on", 2)) || (n == 1 && *v == '1')))
			return mw_fail(err, errsz, -1,
				       "%s:%d: '%s' is a flag: true or false, not '%.*s'", name,
				       lineno, key + 2, (int)n, v);
	}
	argv[argc] = keep_str(keep, key, strlen(key));
	if (!argv[argc++])
		return mw_fail(err, errsz, -1, "%s:%d: out of memory", name, lineno);
	if (has_arg) {
		argv[argc] = keep_str(keep, v, vend - v);
		if (!argv[argc++])
			return mw_fail(err, errsz, -1, "%s:%d: out of memory", name, lineno);
	}
	argv[argc] = NULL;
	if (mw_cli_add(argc, argv, cfg, false, why, sizeof(why)))
		return mw_fail(err, errsz, -1, "%s:%d: %s", name, lineno, why);
	if (cfg->help || cfg->version)
		return mw_fail(err, errsz, -1, "%s:%d: '%s' has no place in a config file", name,
			       lineno, key + 2);
	return 0;
}

int mw_config_parse_text(const char *name, const char *text, struct mw_config *cfg,
			 struct mw_confbuf *keep, char *err, size_t errsz)
{
	int lineno = 0;

	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n'), *end = nl ? nl : p + strlen(p);
		const char *s = p, *e = end;

		lineno++;
		while (s < e && is_blank(*s))
			s++;
		while (e > s && is_blank(e[-1]))
			e--;
		if (s < e && *s != '#' && parse_line(name, lineno, s, e - s, cfg, keep, err, errsz))
			return -1;
		p = nl ? nl + 1 : end;
	}
	return 0;
}

int mw_config_load(const char *path, struct mw_config *cfg, struct mw_confbuf *keep, char *err,
		   size_t errsz)
{
	FILE *f = fopen(path, "r");
	char *text;
	size_t n;
	int ret;

	if (!f)
		return mw_fail(err, errsz, -1, "cannot read config %s: %s", path, strerror(errno));
	text = malloc(MW_CONFIG_MAX_BYTES + 1);
	if (!text) {
		fclose(f);
		return mw_fail(err, errsz, -1, "cannot read config %s: out of memory", path);
	}
	n = fread(text, 1, MW_CONFIG_MAX_BYTES + 1, f);
	ret = ferror(f) ? -1 : 0;
	fclose(f);
	if (ret || n > MW_CONFIG_MAX_BYTES || memchr(text, '\0', n)) {
		free(text);
		return mw_fail(err, errsz, -1, "cannot read config %s: %s", path,
			       ret			 ? "read error"
			       : n > MW_CONFIG_MAX_BYTES ? "larger than 1 MiB"
							 : "not a text file");
	}
	text[n] = '\0';
	ret = mw_config_parse_text(path, text, cfg, keep, err, errsz);
	free(text);
	return ret;
}

int mw_config_build(int argc, char **argv, bool daemon_cmd, struct mw_config *cfg,
		    struct mw_confbuf *keep, char *err, size_t errsz)
{
	struct mw_config cmdline;

	/* The command line alone first: is there a file to read? */
	mw_cli_defaults(&cmdline);
	if (mw_cli_add(argc, argv, &cmdline, true, err, errsz))
		return -1;
	mw_cli_defaults(cfg);
	if (cmdline.config_path && !cmdline.help && !cmdline.version &&
	    mw_config_load(cmdline.config_path, cfg, keep, err, errsz))
		return -1;
	if (mw_cli_add(argc, argv, cfg, true, err, errsz))
		return -1;
	if (daemon_cmd)
		cfg->daemon = true;
	return mw_cli_finish(cfg, err, errsz);
}
