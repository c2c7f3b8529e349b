// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* --prometheus ADDR:PORT parsing. See listen.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include "base/errmsg.h"
#include "listen.h"

static int parse_port(const char *s, const char *all, unsigned *port, char *err, size_t errsz)
{
	char *end;
	unsigned long v;

	errno = 0;
	if (*s < '0' || *s > '9')
		return mw_fail(err, errsz, -1, "--prometheus: '%s' has no port (ADDR:PORT)", all);
	v = strtoul(s, &end, 10);
	if (errno || *end || v == 0 || v > 65535)
		return mw_fail(err, errsz, -1, "--prometheus: '%s': port must be 1..65535", all);
	*port = (unsigned)v;
	return 0;
}

int mw_listen_parse(const char *s, struct mw_listen *out, char *err, size_t errsz)
{
	char host[64] = "127.0.0.1";
	const char *port_s = s;
	unsigned port = 0;

	memset(out, 0, sizeof(*out));
	if (!*s)
		return mw_fail(err, errsz, -1,
			       "--prometheus: empty address (ADDR:PORT, e.g. :9464)");
	if (*s == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host))
			return mw_fail(err, errsz, -1, "--prometheus: '%s' is not [IPV6]:PORT", s);
		memcpy(host, s + 1, (size_t)(close - s - 1));
		host[close - s - 1] = '\0';
		port_s = close + 2;
	} else {
		const char *colon = strrchr(s, ':');

		if (colon) {
			if (strchr(s, ':') != colon)
				return mw_fail(
					err, errsz, -1,
					"--prometheus: '%s': write an IPv6 address as [ADDR]:PORT",
					s);
			if (colon != s) {
				if ((size_t)(colon - s) >= sizeof(host))
					return mw_fail(err, errsz, -1,
						       "--prometheus: '%s' is not ADDR:PORT", s);
				memcpy(host, s, (size_t)(colon - s));
				host[colon - s] = '\0';
			}
			port_s = colon + 1;
		}
	}
	if (parse_port(port_s, s, &port, err, errsz))
		return -1;
	if (strchr(host, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&out->addr;

		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return mw_fail(err, errsz, -1,
				       "--prometheus: '%s' is not a numeric IPv6 address", host);
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		out->len = sizeof(*a);
		snprintf(out->text, sizeof(out->text), "[%s]:%u", host, port);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&out->addr;

		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return mw_fail(err, errsz, -1,
				       "--prometheus: '%s' is not a numeric IPv4 address", host);
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		out->len = sizeof(*a);
		snprintf(out->text, sizeof(out->text), "%s:%u", host, port);
	}
	return 0;
}
