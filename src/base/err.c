#include "err.h"

const char *zt_strerror(int err)
{
	switch (err) {
	case ZT_OK: return "success";
	case ZT_EINVAL: return "invalid input";
	case ZT_ENOMEM: return "out of memory";
	case ZT_EIO: return "I/O error";
	case ZT_ETRUNC: return "truncated input";
	case ZT_ETOOBIG: return "too large";
	case ZT_EUNKNOWN: return "unknown type";
	case ZT_EVERSION: return "unsupported version";
	case ZT_ETLS: return "TLS failure";
	case ZT_EQUIC: return "QUIC failure";
	case ZT_EDENIED: return "not allowed";
	case ZT_ENOTFOUND: return "not found";
	case ZT_ECLOSED: return "closed";
	case ZT_EAGAIN: return "try again";
	default: return "unknown error";
	}
}
