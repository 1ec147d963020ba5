/* Plain data types shared by the config loader, the control protocol and the
 * roles: services, address ranges, principals; and the checks every one of
 * them makes alike (names, CIDR containment). Decisions live in policy.h. */
#ifndef ZT_TYPES_H
#define ZT_TYPES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ZT_NAME_MAX 64        /* service, user, group and connector names */
#define ZT_HOST_MAX 254       /* DNS name, without the trailing NUL */
#define ZT_MAX_CIDRS 16       /* per service */
#define ZT_MAX_PORTS 16       /* port ranges per service */
#define ZT_MAX_ALLOW 32       /* principals per service allow list */
#define ZT_MAX_GROUPS 32      /* groups in one identity */
#define ZT_MAX_ADDRS 8        /* announced addresses per connector */
#define ZT_MAX_SERVICES 256   /* per connector, and per catalog */
#define ZT_MAX_RELAYS 8
#define ZT_MAX_GRANTS 16      /* publish-host and publish-cidr each, per cert */

enum zt_role {
	ZT_ROLE_NONE = 0,
	ZT_ROLE_RELAY = 1,
	ZT_ROLE_CONNECTOR = 2,
	ZT_ROLE_AGENT = 3,
};

enum zt_proto {
	ZT_PROTO_TCP = 1,
	ZT_PROTO_UDP = 2,
	ZT_PROTO_ANY = 3, /* TCP and UDP */
};

/* IPv4 addresses use the first 4 bytes of addr. */
struct zt_cidr {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t prefix;
	uint8_t addr[16];
};

struct zt_port_range {
	uint16_t lo, hi; /* inclusive; lo <= hi; 1..65535 */
};

enum zt_principal_kind {
	ZT_PRINCIPAL_USER = 1,
	ZT_PRINCIPAL_GROUP = 2,
};

struct zt_principal {
	uint8_t kind;
	char name[ZT_NAME_MAX];
};

/* An IP address and port, family-tagged, independent of sockaddr layout. */
struct zt_addr {
	uint8_t family; /* AF_INET or AF_INET6; 0 = none */
	uint16_t port;
	uint8_t ip[16];
};

struct zt_service {
	char name[ZT_NAME_MAX];
	char hostname[ZT_HOST_MAX + 1]; /* "" when the service is CIDR only */
	struct zt_cidr cidrs[ZT_MAX_CIDRS];
	size_t n_cidrs;
	struct zt_port_range ports[ZT_MAX_PORTS];
	size_t n_ports;
	uint8_t proto; /* enum zt_proto */
	uint8_t icmp;  /* ICMP echo to the service's addresses allowed */
	struct zt_principal allow[ZT_MAX_ALLOW];
	size_t n_allow;
	/* Connector side only, never sent on the wire: where to forward
	 * ("" = resolve hostname / use the destination address). */
	char target[ZT_HOST_MAX + 1];
};

/* Who a peer is, as read from its certificate. */
struct zt_identity {
	uint8_t role; /* enum zt_role */
	char name[ZT_NAME_MAX];
	char groups[ZT_MAX_GROUPS][ZT_NAME_MAX];
	size_t n_groups;
	/* Connectors: what the CA lets them publish (grant.h). Host patterns
	 * are lower case: "wiki.corp.internal" or "*.corp.internal". */
	char publish_hosts[ZT_MAX_GRANTS][ZT_HOST_MAX + 1];
	size_t n_publish_hosts;
	struct zt_cidr publish_cidrs[ZT_MAX_GRANTS];
	size_t n_publish_cidrs;
	int64_t not_after; /* UNIX seconds: the session ends then */
};

/* A user, group, service or connector name: 1..63 characters of
 * [A-Za-z0-9._@-] (docs/PROTOCOL.md "Identity"). The one alphabet for
 * names that certificates, allow lists and service sections define. */
int zt_name_ok(const char *s, size_t n);
/* A name as the control and flow protocols carry it: 1..63 bytes of
 * printable ASCII other than space (docs/PROTOCOL.md "Value encodings").
 * Wider than zt_name_ok because the wire also carries the software
 * string ("ztnad/0.1.0") and is specified so; a name outside the
 * alphabet matches no certificate or section, so policy is unaffected. */
int zt_wire_name_ok(const char *s, size_t n);

const char *zt_role_name(int role);
/* Returns the role for "relay", "connector" or "agent", or ZT_ROLE_NONE. */
int zt_role_parse(const char *s);

/* Formats "1.2.3.4:5" or "[::1]:5" into buf; returns buf. */
char *zt_addr_str(const struct zt_addr *a, char *buf, size_t len);
int zt_addr_from_sockaddr(struct zt_addr *a, const struct sockaddr *sa);
/* Fills ss and returns its length, or 0 if a has no family. */
socklen_t zt_addr_to_sockaddr(const struct zt_addr *a,
			      struct sockaddr_storage *ss);
int zt_addr_equal(const struct zt_addr *a, const struct zt_addr *b);
/* Could another host reach us at a? Not for an unspecified, loopback,
 * link-local, multicast or broadcast address, or port 0: a peer announcing
 * one would only make others send packets to themselves or their LAN. */
int zt_addr_reachable(const struct zt_addr *a);

/* Is a (port ignored) inside c? */
int zt_cidr_contains(const struct zt_cidr *c, const struct zt_addr *a);
/* Is the address inside one of the service's CIDRs? */
int zt_service_has_addr(const struct zt_service *svc, const struct zt_addr *a);

#endif
