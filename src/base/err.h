/* One error convention for all of ztnad: functions return 0 on success or a
 * negative ZT_E* code; zt_strerror() names it. Functions that return a size
 * return it as a non-negative value, or a negative ZT_E* code. */
#ifndef ZT_ERR_H
#define ZT_ERR_H

enum {
	ZT_OK = 0,
	ZT_EINVAL = -1,    /* bad argument or malformed input */
	ZT_ENOMEM = -2,    /* allocation failed */
	ZT_EIO = -3,       /* system call or file failed (see errno/log) */
	ZT_ETRUNC = -4,    /* input ends early: need more bytes */
	ZT_ETOOBIG = -5,   /* input or output exceeds a limit */
	ZT_EUNKNOWN = -6,  /* unknown type, key or section */
	ZT_EVERSION = -7,  /* unsupported protocol version */
	ZT_ETLS = -8,      /* TLS or certificate failure */
	ZT_EQUIC = -9,     /* QUIC protocol failure */
	ZT_EDENIED = -10,  /* identity or role not allowed */
	ZT_ENOTFOUND = -11,
	ZT_ECLOSED = -12,  /* connection or stream is closed */
	ZT_EAGAIN = -13,   /* try again later (buffer full) */
};

const char *zt_strerror(int err);

#endif
