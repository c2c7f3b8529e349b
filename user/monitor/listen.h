/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The --prometheus ADDR:PORT value -> a socket address. Pure: no sockets opened. */
#ifndef MW_LISTEN_H
#define MW_LISTEN_H

#include <stddef.h>
#include <sys/socket.h>

struct mw_listen {
	struct sockaddr_storage addr; /* sockaddr_in or sockaddr_in6, port set */
	socklen_t len;
	char text[80]; /* "127.0.0.1:9464", "[::1]:9464" */
};

/*
 * "HOST:PORT", ":PORT" (binds 127.0.0.1), "PORT" alone, or "[IPV6]:PORT".
 * HOST is a numeric IPv4 or IPv6 address (no name lookups); PORT 1..65535.
 * 0, or -1 with a one-line reason in err.
 */
int mw_listen_parse(const char *s, struct mw_listen *out, char *err, size_t errsz);

#endif /* MW_LISTEN_H */
