/* The local status socket (`ztnad status`): a Unix stream socket, mode 0600,
 * one request line ("status" or "status json") and one reply per
 * connection. */
#ifndef ZT_CTLSOCK_H
#define ZT_CTLSOCK_H

#include <uv.h>

#include "buf.h"

typedef void (*zt_ctl_status_fn)(void *ud, struct zt_sb *out, int json);

struct zt_ctlsock {
	uv_pipe_t srv;
	char path[108];
	zt_ctl_status_fn fn;
	void *ud;
	int open;
};

int zt_ctlsock_init(struct zt_ctlsock *s, uv_loop_t *loop, const char *path,
		    zt_ctl_status_fn fn, void *ud);
void zt_ctlsock_close(struct zt_ctlsock *s);

/* Client side: asks the daemon at path and writes the reply to stdout.
 * Returns the exit code. */
int zt_ctl_query(const char *path, int json);

#endif
