/* Control protocol (docs/PROTOCOL.md, "Control messages"): framing and
 * encode/decode of the messages exchanged on a peer's control stream. Pure
 * bytes in, bytes out: no sockets, no clocks. */
#ifndef ZT_CTRL_H
#define ZT_CTRL_H

#include <stddef.h>
#include <stdint.h>

#include "types.h"

/* Version 1: HELLO to ERROR. Version 2 adds the relayed-session messages;
 * version 3 SESSION_CANDIDATES and the NAT attribute.
 * A frame's first byte is its version; a peer speaks the version of its
 * first frame (docs/PROTOCOL.md, "Versioning"). */
#define ZT_CTRL_VERSION 1
#define ZT_CTRL_VERSION_MAX 3
#define ZT_CTRL_HDR_LEN 8
#define ZT_CTRL_MAX_BODY (256 * 1024)

enum zt_ctrl_type {
	ZT_CTRL_HELLO = 1,            /* peer -> relay: software, local addrs */
	ZT_CTRL_OBSERVED_ADDRESS = 2, /* relay -> peer: its public addr:port */
	ZT_CTRL_REGISTER = 3,         /* connector -> relay: its services */
	ZT_CTRL_CATALOG = 4,          /* relay -> agent: what it may reach */
	ZT_CTRL_ERROR = 5,            /* either way, before closing */
	/* version 2: relayed sessions (struct zt_ctrl_sess) */
	ZT_CTRL_SESSION_OPEN = 6, /* agent -> relay: a session to a connector */
	ZT_CTRL_SESSION_OFFER = 7,  /* relay -> connector */
	ZT_CTRL_SESSION_ACCEPT = 8, /* connector -> relay */
	ZT_CTRL_SESSION_REFUSE = 9, /* connector -> relay */
	ZT_CTRL_SESSION_READY = 10, /* relay -> agent */
	ZT_CTRL_SESSION_CLOSE = 11, /* either way */
	/* version 3 */
	ZT_CTRL_SESSION_CANDIDATES = 12, /* either way: ours changed, probe
					  * them now */
};

/* How a peer's NAT maps its socket (the NAT attribute, version 3): told
 * from the ports two relays observe. */
enum zt_nat_kind {
	ZT_NAT_UNKNOWN = 0, /* fewer than two relays observe it */
	ZT_NAT_EIM = 1,     /* one mapping for every destination */
	ZT_NAT_EDM = 2,     /* a mapping per destination: punching to
				 * another such NAT cannot work */
};

#define ZT_CTRL_KEY_LEN 32 /* a per-session probe key */

/* QUIC application error codes used in CONNECTION_CLOSE. */
enum zt_app_error {
	ZT_APP_NO_ERROR = 0,
	ZT_APP_PROTOCOL = 1, /* malformed control message */
	ZT_APP_TOO_BIG = 2,  /* oversized control message */
	ZT_APP_UNKNOWN = 3,  /* unknown message type */
	ZT_APP_VERSION = 4,  /* unsupported control protocol version */
	ZT_APP_DENIED = 5,   /* identity or role not allowed */
	ZT_APP_SHUTDOWN = 6, /* the daemon is stopping */
	ZT_APP_INTERNAL = 7,
	ZT_APP_PEER_GONE = 8, /* relayed session: the other side went away,
			       * did not answer, or the session idled out */
};

struct zt_catalog_entry {
	struct zt_service svc; /* allow list and target are not sent */
	char connector[ZT_NAME_MAX];
	struct zt_addr addrs[ZT_MAX_ADDRS]; /* observed first, then local */
	size_t n_addrs;
};

/* The fields of every SESSION_* message; which ones a message carries,
 * and must carry, is in docs/PROTOCOL.md ("Relayed sessions"). A zero req
 * or session is absent. */
struct zt_ctrl_sess {
	uint32_t req;           /* the agent's request number */
	uint32_t session;       /* relay-assigned, 1..2^30-1 */
	char peer[ZT_NAME_MAX]; /* OPEN: the connector; OFFER: the agent */
	uint8_t key[ZT_CTRL_KEY_LEN]; /* the sender's (OPEN, ACCEPT) or the
				       * other peer's (OFFER, READY) key */
	uint16_t mtu; /* largest inner packet the relay carries */
	struct zt_addr addrs[ZT_MAX_ADDRS]; /* candidates */
	size_t n_addrs;
	uint32_t code; /* REFUSE, CLOSE: enum zt_app_error */
	char text[256];
	uint8_t nat; /* version 3: the sender's (OPEN, ACCEPT,
			   * CANDIDATES to the relay) or the other peer's
			   * enum zt_nat_kind; encoded when not unknown */
};

struct zt_ctrl_msg {
	uint8_t type;    /* enum zt_ctrl_type */
	uint8_t version; /* decode: the frame's; encode: 0 means 1 */
	union {
		struct {
			char software[ZT_NAME_MAX];
			struct zt_addr addrs[ZT_MAX_ADDRS];
			size_t n_addrs;
		} hello;
		struct {
			struct zt_addr addr;
		} observed;
		struct {
			struct zt_service *services; /* heap, n entries */
			size_t n;
		} reg;
		struct {
			struct zt_catalog_entry *entries; /* heap, n entries */
			size_t n;
		} catalog;
		struct {
			uint32_t code; /* enum zt_app_error */
			char text[256];
		} error;
		struct zt_ctrl_sess sess;
	} u;
};

/* Encodes m as one frame of version m->version into a malloc'd buffer.
 * Returns 0, ZT_EINVAL (bad field, e.g. unterminated or empty name, or a
 * type the version does not have), ZT_ETOOBIG or ZT_ENOMEM. */
int zt_ctrl_encode(const struct zt_ctrl_msg *m, uint8_t **out, size_t *outlen);

/* Decodes exactly one whole frame (header + body, len bytes). Returns 0,
 * ZT_ETRUNC, ZT_ETOOBIG, ZT_EVERSION, ZT_EUNKNOWN (message type, also one
 * the frame's version does not have) or ZT_EINVAL (anything else
 * malformed). On error m needs no freeing. */
int zt_ctrl_decode(struct zt_ctrl_msg *m, const uint8_t *buf, size_t len);
void zt_ctrl_msg_free(struct zt_ctrl_msg *m);
const char *zt_ctrl_type_name(int type);
/* What a frame header alone tells: 0 with the body length, ZT_ETRUNC (no
 * whole header yet), ZT_EVERSION or ZT_ETOOBIG. */
int zt_ctrl_hdr_check(const uint8_t *p, size_t len, uint32_t *body_len);
/* Maps a decode error to the CONNECTION_CLOSE code to use. */
uint32_t zt_ctrl_app_error(int err);

/* Reassembles frames from a byte stream. */
struct zt_ctrl_reader {
	uint8_t *buf;
	size_t len, cap;
};

void zt_ctrl_reader_init(struct zt_ctrl_reader *r);
void zt_ctrl_reader_free(struct zt_ctrl_reader *r);
/* Appends stream bytes. Returns 0, ZT_ENOMEM, or ZT_ETOOBIG / ZT_EVERSION as
 * soon as a header announces an oversized body or another version (so a
 * hostile peer cannot make us buffer 4 GiB). */
int zt_ctrl_reader_feed(struct zt_ctrl_reader *r, const uint8_t *data,
			size_t len);
/* Takes the next complete message. Returns 0 (m filled), ZT_ETRUNC (need
 * more bytes) or a decode error. */
int zt_ctrl_reader_next(struct zt_ctrl_reader *r, struct zt_ctrl_msg *m);

#endif
