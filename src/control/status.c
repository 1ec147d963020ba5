#include "status.h"

#include <arpa/inet.h>
#include <stdio.h>

static const char *proto_name(int p)
{
	return p == ZT_PROTO_TCP ? "tcp" : p == ZT_PROTO_UDP ? "udp" : "any";
}

static void cidr_str(const struct zt_cidr *c, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	inet_ntop(c->family, c->addr, ip, sizeof(ip));
	snprintf(buf, len, "%s/%u", ip, c->prefix);
}

void zt_status_service(struct zt_sb *b, const struct zt_service *s, int json)
{
	char buf[64];

	if (json) {
		zt_sb_printf(b, "\"service\":");
		zt_sb_json_str(b, s->name);
		zt_sb_printf(b, ",\"hostname\":");
		zt_sb_json_str(b, s->hostname);
		zt_sb_printf(b, ",\"protocol\":\"%s\",\"cidrs\":[",
			     proto_name(s->proto));
		for (size_t i = 0; i < s->n_cidrs; i++) {
			cidr_str(&s->cidrs[i], buf, sizeof(buf));
			zt_sb_printf(b, "%s\"%s\"", i ? "," : "", buf);
		}
		zt_sb_printf(b, "],\"ports\":[");
		for (size_t i = 0; i < s->n_ports; i++)
			zt_sb_printf(b, "%s[%u,%u]", i ? "," : "",
				     s->ports[i].lo, s->ports[i].hi);
		zt_sb_printf(b, "]");
		return;
	}
	zt_sb_printf(b, "%-16s %-4s %s", s->name, proto_name(s->proto),
		     s->hostname[0] ? s->hostname : "-");
	for (size_t i = 0; i < s->n_cidrs; i++) {
		cidr_str(&s->cidrs[i], buf, sizeof(buf));
		zt_sb_printf(b, " %s", buf);
	}
	zt_sb_printf(b, " ports");
	for (size_t i = 0; i < s->n_ports; i++) {
		if (s->ports[i].lo == s->ports[i].hi)
			zt_sb_printf(b, "%s%u", i ? "," : " ", s->ports[i].lo);
		else
			zt_sb_printf(b, "%s%u-%u", i ? "," : " ",
				     s->ports[i].lo, s->ports[i].hi);
	}
}

void zt_status_links(struct zt_sb *b, struct zt_relaylink *const *links, size_t n,
		     int json)
{
	char a[64];

	if (!json)
		zt_sb_printf(b, "relays:\n");
	for (size_t i = 0; i < n; i++) {
		const struct zt_relaylink *l = links[i];
		double rtt = l->conn && l->state == ZT_LINK_UP
				     ? zt_qconn_rtt_ns(l->conn) / 1e6
				     : 0;

		zt_addr_str(&l->observed, a, sizeof(a));
		if (json) {
			zt_sb_printf(b, "%s{\"relay\":", i ? "," : "");
			zt_sb_json_str(b, l->relay.host);
			zt_sb_printf(
				b,
				",\"port\":%u,\"state\":\"%s\","
				"\"transport\":\"%s\",\"rtt_ms\":%.3f,"
				"\"observed_address\":\"%s\","
				"\"tcp_fallbacks\":%llu,\"udp_returns\":%llu,\"udp_tries\":%llu,"
				"\"fallback_ms\":%llu,\"return_ms\":%llu,"
				"\"last_error\":",
				l->relay.port, zt_link_state_name(l->state),
				zt_link_transport_name(l->transport), rtt,
				l->observed.family ? a : "",
				(unsigned long long)l->tcp_fallbacks,
				(unsigned long long)l->udp_returns,
				(unsigned long long)l->udp_tries,
				(unsigned long long)l->fallback_ms,
				(unsigned long long)l->return_ms);
			zt_sb_json_str(b, l->last_error);
			zt_sb_printf(b, "}");
			continue;
		}
		zt_sb_printf(b, "  %s:%u  %-10s %s  rtt %.2f ms  observed %s",
			     l->relay.host, l->relay.port,
			     zt_link_state_name(l->state),
			     zt_link_transport_name(l->transport), rtt,
			     l->observed.family ? a : "-");
		if (l->tcp_fallbacks)
			zt_sb_printf(b,
				     "  tcp fallbacks %llu (last after %llu "
				     "ms), back to udp %llu",
				     (unsigned long long)l->tcp_fallbacks,
				     (unsigned long long)l->fallback_ms,
				     (unsigned long long)l->udp_returns);
		zt_sb_printf(b, "%s%s\n",
			     l->last_error[0] ? "  last error: " : "",
			     l->last_error);
	}
}
