/* Synthetic address pool: stability, the reserved range, reverse lookup,
 * exhaustion, and reuse only after hold time in least-recently-used order. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "err.h"
#include "synth.h"

#define POOL 0x64400000u /* 100.64.0.0 */
#define SEC 1000000000ull
#define HOLD (60 * SEC)

static void test_new_args(void **state)
{
	struct zt_synth *s = (void *)1;

	(void)state;
	assert_int_equal(zt_synth_new(&s, POOL, 33, 0, HOLD), ZT_EINVAL);
	assert_null(s);
	assert_int_equal(zt_synth_new(&s, POOL, -1, 0, HOLD), ZT_EINVAL);
	/* Not the network address of a /10. */
	assert_int_equal(zt_synth_new(&s, POOL + 1, 10, 0, HOLD), ZT_EINVAL);
	/* Nothing left after the reserved addresses. */
	assert_int_equal(zt_synth_new(&s, POOL, 30, 4, HOLD), ZT_EINVAL);
	assert_int_equal(zt_synth_new(&s, POOL, 30, 3, HOLD), 0);
	zt_synth_free(s);
	zt_synth_free(NULL);
}

static void test_stable_and_distinct(void **state)
{
	struct zt_synth *s;
	uint32_t a, b, a2;

	(void)state;
	assert_int_equal(zt_synth_new(&s, POOL, 10, 2, HOLD), 0);
	assert_int_equal(zt_synth_get(s, "app.example", 1, &a), 0);
	assert_int_equal(zt_synth_get(s, "db.example", 2, &b), 0);
	assert_int_equal(zt_synth_get(s, "app.example", 3, &a2), 0);
	assert_int_equal(a, a2);
	assert_int_not_equal(a, b);
	/* Offsets 0 and 1 are reserved: first handed out is .2. */
	assert_int_equal(a, POOL + 2);
	assert_int_equal(b, POOL + 3);
	assert_int_equal(zt_synth_count(s), 2);
	zt_synth_free(s);
}

static void test_reverse(void **state)
{
	struct zt_synth *s;
	uint32_t a, b;

	(void)state;
	assert_int_equal(zt_synth_new(&s, POOL, 10, 2, HOLD), 0);
	assert_int_equal(zt_synth_get(s, "app.example", 1, &a), 0);
	assert_int_equal(zt_synth_get(s, "db.example", 1, &b), 0);
	assert_string_equal(zt_synth_name(s, a), "app.example");
	assert_string_equal(zt_synth_name(s, b), "db.example");
	assert_null(zt_synth_name(s, POOL));
	assert_null(zt_synth_name(s, POOL + 1));
	assert_null(zt_synth_name(s, b + 1));
	assert_null(zt_synth_name(s, 0x0a000001));
	/* Touching an unknown address is harmless. */
	zt_synth_touch(s, 0x0a000001, 5);
	assert_int_equal(zt_synth_count(s), 2);
	zt_synth_free(s);
}

static void test_names(void **state)
{
	char name[300];
	struct zt_synth *s;
	uint32_t a, b;

	(void)state;
	assert_int_equal(zt_synth_new(&s, POOL, 10, 0, HOLD), 0);
	memset(name, 'a', sizeof(name));
	name[253] = '\0';
	assert_int_equal(zt_synth_get(s, name, 1, &a), 0);
	assert_string_equal(zt_synth_name(s, a), name);
	name[253] = 'a';
	name[254] = '\0';
	assert_int_equal(zt_synth_get(s, name, 1, &b), ZT_EINVAL);
	assert_int_equal(zt_synth_get(s, "", 1, &b), ZT_EINVAL);
	assert_int_equal(zt_synth_count(s), 1);

	/* The name is copied, not referenced. */
	strcpy(name, "copy.example");
	assert_int_equal(zt_synth_get(s, name, 1, &a), 0);
	strcpy(name, "changed.example");
	assert_string_equal(zt_synth_name(s, a), "copy.example");
	zt_synth_free(s);
}

/* /29 with 2 reserved: 6 addresses, then exhaustion while names are in
 * use, whatever the time as long as it is within hold. */
static void test_exhaustion(void **state)
{
	char name[32];
	struct zt_synth *s;
	uint32_t ip, seen = 0;

	(void)state;
	assert_int_equal(zt_synth_new(&s, POOL, 29, 2, HOLD), 0);
	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "h%d.example", i);
		assert_int_equal(zt_synth_get(s, name, 10, &ip), 0);
		assert_in_range(ip, POOL + 2, POOL + 7);
		assert_false(seen & (1u << (ip - POOL)));
		seen |= 1u << (ip - POOL);
	}
	assert_int_equal(zt_synth_get(s, "more.example", 10, &ip), ZT_ETOOBIG);
	assert_int_equal(zt_synth_get(s, "more.example", 10 + HOLD, &ip),
			 ZT_ETOOBIG);
	/* A clock going backwards does not expire anything. */
	assert_int_equal(zt_synth_get(s, "more.example", 0, &ip), ZT_ETOOBIG);
	/* Existing names still resolve. */
	assert_int_equal(zt_synth_get(s, "h0.example", 10, &ip), 0);
	assert_int_equal(ip, POOL + 2);
	assert_int_equal(zt_synth_count(s), 6);
	zt_synth_free(s);
}

/* Eviction takes the least recently used expired entry, where use is get
 * or touch, and the evicted name loses its address. */
static void test_eviction_lru(void **state)
{
	char name[32];
	struct zt_synth *s;
	uint32_t ip[4], got;

	(void)state;
	/* /30, 0 reserved: 4 addresses. */
	assert_int_equal(zt_synth_new(&s, POOL, 30, 0, HOLD), 0);
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "h%d", i);
		assert_int_equal(zt_synth_get(s, name, (uint64_t)i * SEC,
					      &ip[i]), 0);
	}
	/* Use order now: h1 h2 h0 h3 (h0 by get, h3 by touch). */
	assert_int_equal(zt_synth_get(s, "h0", 10 * SEC, &got), 0);
	zt_synth_touch(s, ip[3], 11 * SEC);

	/* At 70 s only h1 (last use 1 s) and h2 (2 s) have expired. */
	assert_int_equal(zt_synth_get(s, "n1", 70 * SEC, &got), 0);
	assert_int_equal(got, ip[1]);
	assert_string_equal(zt_synth_name(s, ip[1]), "n1");
	assert_int_equal(zt_synth_get(s, "n2", 70 * SEC, &got), 0);
	assert_int_equal(got, ip[2]);
	/* h0 (10 s) expires only after 70 s: exactly hold is still held. */
	assert_int_equal(zt_synth_get(s, "n3", 70 * SEC, &got), ZT_ETOOBIG);
	assert_int_equal(zt_synth_get(s, "n3", 70 * SEC + 1, &got), 0);
	assert_int_equal(got, ip[0]);
	assert_int_equal(zt_synth_count(s), 4);

	/* h1 comes back: it gets h3's address (h3 last used at 11 s). */
	assert_int_equal(zt_synth_get(s, "h1", 200 * SEC, &got), 0);
	assert_int_equal(got, ip[3]);
	assert_string_equal(zt_synth_name(s, ip[3]), "h1");
	zt_synth_free(s);
}

/* Flow activity alone (touch, no DNS) keeps an address from being reused,
 * and fresh addresses are preferred over expired ones. */
static void test_touch_keeps_alive(void **state)
{
	struct zt_synth *s;
	uint32_t a, b, c;

	(void)state;
	assert_int_equal(zt_synth_new(&s, POOL, 31, 0, HOLD), 0);
	assert_int_equal(zt_synth_get(s, "a", 0, &a), 0);
	/* b is created long after a expired: a fresh address, not a's. */
	assert_int_equal(zt_synth_get(s, "b", 100 * SEC, &b), 0);
	assert_int_not_equal(a, b);
	assert_string_equal(zt_synth_name(s, a), "a");

	for (uint64_t t = 100; t <= 1000; t += 50) {
		zt_synth_touch(s, a, t * SEC);
		zt_synth_touch(s, b, t * SEC);
		assert_int_equal(zt_synth_get(s, "c", t * SEC + 30 * SEC, &c),
				 ZT_ETOOBIG);
	}
	/* Touch b once more: a is now the one to go. */
	zt_synth_touch(s, b, 1001 * SEC);
	assert_int_equal(zt_synth_get(s, "c", 1061 * SEC, &c), 0);
	assert_int_equal(c, a);
	assert_string_equal(zt_synth_name(s, b), "b");
	assert_int_equal(zt_synth_get(s, "a", 1061 * SEC, &a), ZT_ETOOBIG);
	zt_synth_free(s);
}

/* Many names in a /10: distinct addresses, every reverse lookup right, and
 * the tables grow (this would also be slow if they did not). */
static void test_many(void **state)
{
	enum { N = 20000 };
	char name[32];
	struct zt_synth *s;
	uint32_t ip;

	(void)state;
	assert_int_equal(zt_synth_new(&s, POOL, 10, 2, HOLD), 0);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "host-%d.example", i);
		assert_int_equal(zt_synth_get(s, name, 1, &ip), 0);
		assert_int_equal(ip, POOL + 2 + (uint32_t)i);
	}
	assert_int_equal(zt_synth_count(s), N);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "host-%d.example", i);
		assert_string_equal(zt_synth_name(s, POOL + 2 + (uint32_t)i),
				    name);
		assert_int_equal(zt_synth_get(s, name, 2, &ip), 0);
		assert_int_equal(ip, POOL + 2 + (uint32_t)i);
	}
	zt_synth_free(s);
}

static void test_ip6(void **state)
{
	static const uint8_t prefix[12] = { 0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0,
					    0, 0, 0, 0, 0, 0 };
	static const uint8_t want[16] = { 0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0,
					  0, 0, 0, 0, 0, 0,
					  100, 64, 1, 2 };
	uint8_t out[16];

	(void)state;
	zt_synth_ip6(prefix, 0x64400102u, out);
	assert_memory_equal(out, want, sizeof(want));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_args),
		cmocka_unit_test(test_stable_and_distinct),
		cmocka_unit_test(test_reverse),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_exhaustion),
		cmocka_unit_test(test_eviction_lru),
		cmocka_unit_test(test_touch_keeps_alive),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_ip6),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
