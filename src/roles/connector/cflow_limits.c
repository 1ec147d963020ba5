/* Connector limits that one agent identity cannot talk its way around: how
 * many sessions it may hold, how long a flow may sit without its header,
 * and, after a reload, which of its live flows the new configuration still
 * allows. */
#include <stdio.h>
#include <string.h>

#include "cflow_int.h"
#include "ctrl.h"
#include "err.h"
#include "log.h"

static size_t sessions_of(const struct zt_cflows *cf, const char *name)
{
	size_t n = 0;

	for (const struct csession *s = cf->sessions; s; s = s->next)
		if (strcmp(zt_qconn_peer(s->c)->name, name) == 0)
			n++;
	return n;
}

/* Called as the session is established, before any of its streams is
 * looked at: the identity's sessions (not its addresses) are what an
 * agent with a stolen or shared certificate multiplies. */
int cflow_session_admit(struct zt_cflows *cf, struct zt_qconn *c)
{
	const char *name = zt_qconn_peer(c)->name;
	size_t n = sessions_of(cf, name);
	char why[160];

	if (n < cf->max_sessions)
		return 0;
	cf->sessions_refused++;
	snprintf(why, sizeof(why), "too many sessions for agent %s (limit %zu)",
		 name, cf->max_sessions);
	log_warn("%s refused: %s", zt_qconn_label(c), why);
	zt_qconn_close(c, ZT_APP_DENIED, why, uv_hrtime());
	return ZT_EDENIED;
}

/* A stream with half a header, or none, holds a flow slot and a stream
 * of its session for as long as the agent likes: not longer than this.
 * One line per session and sweep, however many streams it left open. */
void cflow_hdr_sweep(struct csession *s, uint64_t now)
{
	size_t n = 0, bytes = 0;
	char user[ZT_NAME_MAX] = "";

	for (struct cflow *f = s->flows, *next; f; f = next) {
		next = f->next;
		if (f->state != CF_HDR || now - f->start_ns <= CF_HDR_TIMEOUT_NS)
			continue;
		n++;
		bytes += f->hdr_len;
		snprintf(user, sizeof(user), "%s", f->user);
		f->cf->hdr_timeouts++;
		cflow_close(f, "no flow header", CF_END_RESET);
	}
	if (n)
		log_warn("flows from %s: %zu reset, no complete header %llu s "
			 "after their stream opened (%zu B in all)", user, n,
			 (unsigned long long)(CF_HDR_TIMEOUT_NS / 1000000000ULL),
			 bytes);
}

static void recheck_flow(struct cflow *f, const struct zt_identity *id)
{
	const struct zt_service *svc;
	int status;
	const char *why;

	if (f->state == CF_HDR || f->state == CF_CLOSED)
		return; /* not checked yet: the new configuration will be */
	why = cflow_policy(f, id, &svc, &status);
	if (!why)
		return;
	log_warn("flow of %s to %s no longer allowed after reload: %s",
		 f->user, f->hdr.service, why);
	cflow_close(f, "no longer allowed", CF_END_RESET);
}

void zt_cflows_recheck(struct zt_cflows *cf)
{
	for (struct csession *s = cf->sessions; s; s = s->next) {
		const struct zt_identity *id = zt_qconn_peer(s->c);

		for (struct cflow *f = s->flows, *n; f; f = n) {
			n = f->next;
			recheck_flow(f, id);
		}
	}
}
