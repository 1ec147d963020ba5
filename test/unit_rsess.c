/* The relay's table of relayed sessions (rsess.c): a session joins exactly
 * two links, only its connector accepts it, datagrams pass only between its
 * two links once accepted and within budget, and sessions end with a link,
 * an unanswered offer or idleness. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "err.h"
#include "rsess.h"

#define NS 1000000000ULL

static int A, A2, C, C2, X; /* links: only their addresses matter */

static uint64_t seq_rand(void *arg)
{
	uint64_t *x = arg;

	*x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
	return *x >> 11;
}

static uint64_t const_rand(void *arg)
{
	return 12345;
}

struct fx {
	struct zt_rsess_table t;
	struct zt_rsess_limits lim;
	uint64_t seed;
};

static void fx_init(struct fx *f, void (*tweak)(struct zt_rsess_limits *))
{
	f->seed = 1;
	zt_rsess_limits_default(&f->lim);
	if (tweak)
		tweak(&f->lim);
	assert_int_equal(
		zt_rsess_table_init(&f->t, &f->lim, seq_rand, &f->seed), 0);
}

static struct zt_rsess *open_ready(struct fx *f, void *a, void *c, uint64_t now)
{
	struct zt_rsess *s, *s2;

	assert_int_equal(zt_rsess_open(&f->t, a, c, 7, now, &s), 0);
	assert_int_equal(zt_rsess_accept(&f->t, s->id, c, now, &s2), 0);
	assert_ptr_equal(s, s2);
	return s;
}

/* SESSION_CANDIDATES: only between a ready session's two links, at most
 * ZT_RSESS_CAND_PS a second each way. */
static void test_candidates_gate(void **state)
{
	struct fx f;
	struct zt_rsess *s;
	void *to = NULL;

	fx_init(&f, NULL);
	assert_int_equal(zt_rsess_open(&f.t, &A, &C, 7, 0, &s), 0);
	assert_int_equal(zt_rsess_candidates(s, &A, 0, &to), 0); /* offered */
	assert_int_equal(zt_rsess_accept(&f.t, s->id, &C, 0, &s), 0);
	assert_int_equal(zt_rsess_candidates(s, &X, 0, &to), 0);
	for (int i = 0; i < ZT_RSESS_CAND_PS; i++) {
		assert_int_equal(zt_rsess_candidates(s, &A, NS, &to), 1);
		assert_ptr_equal(to, &C);
	}
	assert_int_equal(zt_rsess_candidates(s, &A, NS, &to), 0);
	/* the other way has its own budget */
	assert_int_equal(zt_rsess_candidates(s, &C, NS, &to), 1);
	assert_ptr_equal(to, &A);
	/* half a second later: one more */
	assert_int_equal(zt_rsess_candidates(s, &A, NS + NS / 2, &to), 1);
	assert_int_equal(zt_rsess_candidates(s, &A, NS + NS / 2, &to), 0);
	assert_int_equal(s->a2c.cand, 3);
	assert_int_equal(s->a2c.cand_dropped, 3);
	zt_rsess_table_free(&f.t);
}

static void test_forward_both_ways(void **state)
{
	struct fx f;
	struct zt_rsess *s;
	enum zt_rsess_drop why;
	void *to = NULL;

	fx_init(&f, NULL);
	assert_int_equal(zt_rsess_open(&f.t, &A, &C, 7, 0, &s), 0);
	assert_int_equal(s->state, ZT_RSESS_OFFERED);
	assert_true(s->id != 0 && s->id < (1u << 30));
	assert_int_equal(s->req, 7);
	/* before the connector accepts, nothing passes */
	assert_int_equal(zt_rsess_forward(&f.t, &A, s->id, 100, 1, &to, &why),
			 0);
	assert_int_equal(why, ZT_RDROP_NOT_READY);
	assert_int_equal(zt_rsess_accept(&f.t, s->id, &C, 2, &s), 0);
	assert_int_equal(s->state, ZT_RSESS_READY);
	assert_int_equal(zt_rsess_forward(&f.t, &A, s->id, 1200, 3, &to, &why),
			 1);
	assert_ptr_equal(to, &C);
	assert_int_equal(zt_rsess_forward(&f.t, &C, s->id, 900, 4, &to, &why),
			 1);
	assert_ptr_equal(to, &A);
	assert_int_equal(s->a2c.bytes, 1200);
	assert_int_equal(s->a2c.pkts, 1);
	assert_int_equal(s->c2a.bytes, 900);
	assert_int_equal(s->a2c.drops[ZT_RDROP_NOT_READY], 1);
	assert_int_equal(f.t.drops[ZT_RDROP_NOT_READY], 1);
	zt_rsess_table_free(&f.t);
}

static void test_only_its_links(void **state)
{
	struct fx f;
	struct zt_rsess *s, *s2;
	enum zt_rsess_drop why;
	void *to = NULL;

	fx_init(&f, NULL);
	assert_int_equal(zt_rsess_open(&f.t, &A, &C, 1, 0, &s), 0);
	/* another connector cannot accept it, the agent cannot either */
	assert_int_equal(zt_rsess_accept(&f.t, s->id, &C2, 0, &s2), ZT_EDENIED);
	assert_int_equal(zt_rsess_accept(&f.t, s->id, &A, 0, &s2), ZT_EDENIED);
	assert_int_equal(zt_rsess_accept(&f.t, s->id + 1, &C, 0, &s2),
			 ZT_ENOTFOUND);
	assert_int_equal(zt_rsess_accept(&f.t, s->id, &C, 0, &s2), 0);
	/* accepted once only */
	assert_int_equal(zt_rsess_accept(&f.t, s->id, &C, 0, &s2), ZT_EDENIED);
	assert_int_equal(zt_rsess_forward(&f.t, &X, s->id, 10, 1, &to, &why),
			 0);
	assert_int_equal(why, ZT_RDROP_NOT_YOURS);
	assert_int_equal(
		zt_rsess_forward(&f.t, &A, s->id ^ 1, 10, 1, &to, &why), 0);
	assert_int_equal(why, ZT_RDROP_UNKNOWN);
	assert_int_equal(f.t.drops[ZT_RDROP_NOT_YOURS], 1);
	assert_int_equal(f.t.drops[ZT_RDROP_UNKNOWN], 1);
	assert_int_equal(s->a2c.bytes + s->c2a.bytes, 0);
	zt_rsess_table_free(&f.t);
}

static void small_budget(struct zt_rsess_limits *l)
{
	l->sess_bytes_ps = 1000;
	l->sess_pkts_ps = 100;
}

static void test_session_budget(void **state)
{
	struct fx f;
	struct zt_rsess *s;
	enum zt_rsess_drop why;
	void *to;

	fx_init(&f, small_budget);
	s = open_ready(&f, &A, &C, 0);
	assert_int_equal(zt_rsess_forward(&f.t, &A, s->id, 1000, 0, &to, &why),
			 1);
	assert_int_equal(zt_rsess_forward(&f.t, &A, s->id, 1, 0, &to, &why), 0);
	assert_int_equal(why, ZT_RDROP_RATE);
	/* the other direction has its own budget */
	assert_int_equal(zt_rsess_forward(&f.t, &C, s->id, 1000, 0, &to, &why),
			 1);
	/* half a second refills half */
	assert_int_equal(
		zt_rsess_forward(&f.t, &A, s->id, 500, NS / 2, &to, &why), 1);
	assert_int_equal(
		zt_rsess_forward(&f.t, &A, s->id, 1, NS / 2, &to, &why), 0);
	/* a long pause refills to one second's worth, no more */
	assert_int_equal(zt_rsess_forward(&f.t, &A, s->id, 1000, 100 * NS, &to,
					  &why),
			 1);
	assert_int_equal(
		zt_rsess_forward(&f.t, &A, s->id, 1, 100 * NS, &to, &why), 0);
	assert_int_equal(s->a2c.drops[ZT_RDROP_RATE], 3);
	/* packets are counted too */
	struct zt_rsess *s2 = open_ready(&f, &A2, &C, 0);
	int passed = 0;
	for (int i = 0; i < 200; i++)
		passed += zt_rsess_forward(&f.t, &A2, s2->id, 1, 0, &to, &why);
	assert_int_equal(passed, 100);
	zt_rsess_table_free(&f.t);
}

static void small_relay(struct zt_rsess_limits *l)
{
	l->relay_bytes_ps = 3000;
}

static void test_relay_budget(void **state)
{
	struct fx f;
	struct zt_rsess *s1, *s2;
	enum zt_rsess_drop why;
	void *to;

	fx_init(&f, small_relay);
	s1 = open_ready(&f, &A, &C, 0);
	s2 = open_ready(&f, &A2, &C, 0);
	assert_int_equal(zt_rsess_forward(&f.t, &A, s1->id, 2000, 0, &to, &why),
			 1);
	assert_int_equal(
		zt_rsess_forward(&f.t, &A2, s2->id, 2000, 0, &to, &why), 0);
	assert_int_equal(why, ZT_RDROP_RELAY_RATE);
	/* a drop for the relay's budget takes nothing from the session's */
	assert_int_equal(s2->a2c.bytes, 0);
	assert_int_equal(
		zt_rsess_forward(&f.t, &A2, s2->id, 1000, 0, &to, &why), 1);
	zt_rsess_table_free(&f.t);
}

static void few(struct zt_rsess_limits *l)
{
	l->per_agent = 3;
	l->max_sessions = 5;
}

static void test_limits(void **state)
{
	struct fx f;
	struct zt_rsess *s;

	fx_init(&f, few);
	for (int i = 0; i < 3; i++)
		assert_int_equal(zt_rsess_open(&f.t, &A, &C, i, 0, &s), 0);
	assert_int_equal(zt_rsess_open(&f.t, &A, &C2, 9, 0, &s), ZT_EAGAIN);
	assert_int_equal(zt_rsess_open(&f.t, &A2, &C, 1, 0, &s), 0);
	assert_int_equal(zt_rsess_open(&f.t, &A2, &C, 2, 0, &s), 0);
	/* the relay is full */
	assert_int_equal(zt_rsess_open(&f.t, &X, &C, 1, 0, &s), ZT_EAGAIN);
	assert_int_equal(zt_rsess_count_link(&f.t, &C), 5);
	zt_rsess_table_free(&f.t);

	/* a random source stuck on one value gives one session, not two
	 * with one id */
	zt_rsess_limits_default(&f.lim);
	assert_int_equal(zt_rsess_table_init(&f.t, &f.lim, const_rand, NULL),
			 0);
	assert_int_equal(zt_rsess_open(&f.t, &A, &C, 1, 0, &s), 0);
	assert_int_equal(zt_rsess_open(&f.t, &A, &C, 2, 0, &s), ZT_EAGAIN);
	zt_rsess_table_free(&f.t);
}

struct seen {
	void *links[16];
	int n;
};

static void note(struct zt_rsess *s, void *link, void *arg)
{
	struct seen *w = arg;

	assert_true(w->n < 16);
	w->links[w->n++] = link;
}

static void test_link_gone(void **state)
{
	struct fx f;
	struct zt_rsess *s1, *s2, *s3;
	struct seen w = { 0 };
	uint64_t id1, id3;

	fx_init(&f, NULL);
	s1 = open_ready(&f, &A, &C, 0);
	s2 = open_ready(&f, &A, &C2, 0);
	s3 = open_ready(&f, &A2, &C2, 0);
	id1 = s1->id;
	id3 = s3->id;
	(void)s2;
	/* C2 goes: its two sessions end, each survivor is told */
	assert_int_equal(zt_rsess_link_gone(&f.t, &C2, note, &w), 2);
	assert_int_equal(w.n, 2);
	assert_true((w.links[0] == &A && w.links[1] == &A2) ||
		    (w.links[0] == &A2 && w.links[1] == &A));
	assert_null(zt_rsess_find(&f.t, id3));
	assert_non_null(zt_rsess_find(&f.t, id1));
	assert_int_equal(f.t.n, 1);
	w.n = 0;
	assert_int_equal(zt_rsess_link_gone(&f.t, &A, note, &w), 1);
	assert_ptr_equal(w.links[0], &C);
	assert_int_equal(f.t.n, 0);
	zt_rsess_table_free(&f.t);
}

static void test_expire(void **state)
{
	struct fx f;
	struct zt_rsess *offered, *ready;
	struct seen w = { 0 };
	enum zt_rsess_drop why;
	void *to;
	uint64_t next, oid, rid;

	fx_init(&f, NULL);
	assert_int_equal(zt_rsess_open(&f.t, &A, &C, 1, 0, &offered), 0);
	ready = open_ready(&f, &A2, &C, 0);
	oid = offered->id;
	rid = ready->id;
	next = zt_rsess_expire(&f.t, NS, note, &w);
	assert_int_equal(next, f.lim.accept_ns);
	assert_int_equal(w.n, 0);
	/* traffic keeps the ready one; the unanswered offer ends */
	assert_int_equal(
		zt_rsess_forward(&f.t, &A2, rid, 10, 4 * NS, &to, &why), 1);
	next = zt_rsess_expire(&f.t, f.lim.accept_ns, note, &w);
	assert_int_equal(w.n, 2); /* both links of the offer told */
	assert_null(zt_rsess_find(&f.t, oid));
	assert_int_equal(next, 4 * NS + f.lim.idle_ns);
	next = zt_rsess_expire(&f.t, 4 * NS + f.lim.idle_ns - 1, note, &w);
	assert_non_null(zt_rsess_find(&f.t, rid));
	next = zt_rsess_expire(&f.t, 4 * NS + f.lim.idle_ns, note, &w);
	assert_null(zt_rsess_find(&f.t, rid));
	assert_int_equal(next, UINT64_MAX);
	assert_int_equal(w.n, 4);
	zt_rsess_table_free(&f.t);
}

static void many(struct zt_rsess_limits *l)
{
	l->per_agent = 100000;
	l->max_sessions = 100000;
}

static void test_many_sessions(void **state)
{
	struct fx f;
	static uint64_t ids[3000];
	struct zt_rsess *s;

	fx_init(&f, many);
	for (int i = 0; i < 3000; i++) {
		assert_int_equal(zt_rsess_open(&f.t, &A, &C, i, 0, &s), 0);
		ids[i] = s->id;
	}
	assert_true(f.t.n_buckets >= 2048);
	for (int i = 0; i < 3000; i++) {
		s = zt_rsess_find(&f.t, ids[i]);
		assert_non_null(s);
		assert_int_equal(s->req, i);
	}
	assert_int_equal(zt_rsess_link_gone(&f.t, &C, NULL, NULL), 3000);
	assert_int_equal(f.t.n, 0);
	zt_rsess_table_free(&f.t);
	assert_string_equal(zt_rsess_drop_name(ZT_RDROP_TOO_BIG), "too_big");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forward_both_ways),
		cmocka_unit_test(test_candidates_gate),
		cmocka_unit_test(test_only_its_links),
		cmocka_unit_test(test_session_budget),
		cmocka_unit_test(test_relay_budget),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_link_gone),
		cmocka_unit_test(test_expire),
		cmocka_unit_test(test_many_sessions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
