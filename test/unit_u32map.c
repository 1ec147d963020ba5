/* The id -> pointer map (u32map.c): what is put is found until deleted,
 * deletion keeps every other entry reachable (backward shift), a replaced
 * entry survives the old value's delete, and the map grows. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "err.h"
#include "u32map.h"

static int v[4096]; /* values: only their addresses matter */

static void test_empty(void **state)
{
	struct zt_u32map m;

	zt_u32map_init(&m);
	assert_null(zt_u32map_get(&m, 0));
	assert_null(zt_u32map_get(&m, 7));
	zt_u32map_del(&m, 7, &v[0]); /* nothing to remove: no crash */
	assert_int_equal(zt_u32map_put(&m, 7, NULL), ZT_EINVAL);
	assert_int_equal(m.n, 0);
	zt_u32map_free(&m);
}

static void test_put_get_del(void **state)
{
	struct zt_u32map m;

	zt_u32map_init(&m);
	assert_int_equal(zt_u32map_put(&m, 0, &v[0]), 0); /* 0 is a key */
	assert_int_equal(zt_u32map_put(&m, UINT32_MAX, &v[1]), 0);
	assert_ptr_equal(zt_u32map_get(&m, 0), &v[0]);
	assert_ptr_equal(zt_u32map_get(&m, UINT32_MAX), &v[1]);
	assert_null(zt_u32map_get(&m, 1));
	/* Replaced: the old value's delete leaves the new one. */
	assert_int_equal(zt_u32map_put(&m, 0, &v[2]), 0);
	assert_int_equal(m.n, 2);
	zt_u32map_del(&m, 0, &v[0]);
	assert_ptr_equal(zt_u32map_get(&m, 0), &v[2]);
	zt_u32map_del(&m, 0, &v[2]);
	assert_null(zt_u32map_get(&m, 0));
	assert_int_equal(m.n, 1);
	zt_u32map_free(&m);
	assert_null(zt_u32map_get(&m, UINT32_MAX));
}

/* Random puts and deletes against a plain array: many share probe runs
 * (keys in a small range, the table wrapping around). */
static void test_against_array(void **state)
{
	static void *ref[1024];
	struct zt_u32map m;
	uint64_t x = 1;

	zt_u32map_init(&m);
	for (int round = 0; round < 200000; round++) {
		uint32_t k;
		size_t n = 0;

		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		k = (uint32_t)(x >> 33) % 1024;
		if ((x >> 20) & 1) {
			void *val = &v[(x >> 40) % 4096];

			assert_int_equal(zt_u32map_put(&m, k, val), 0);
			ref[k] = val;
		} else {
			zt_u32map_del(&m, k, ref[k]);
			ref[k] = NULL;
		}
		assert_ptr_equal(zt_u32map_get(&m, k), ref[k]);
		if (round % 997)
			continue;
		for (uint32_t i = 0; i < 1024; i++) {
			assert_ptr_equal(zt_u32map_get(&m, i), ref[i]);
			n += ref[i] != NULL;
		}
		assert_int_equal(m.n, n);
		assert_true(m.n * 2 <= m.cap);
	}
	zt_u32map_free(&m);
}

static void test_grows(void **state)
{
	struct zt_u32map m;

	zt_u32map_init(&m);
	for (uint32_t i = 0; i < 4096; i++)
		assert_int_equal(zt_u32map_put(&m, i * 0x10000u, &v[i]), 0);
	assert_int_equal(m.n, 4096);
	assert_true(m.cap >= 8192);
	for (uint32_t i = 0; i < 4096; i++)
		assert_ptr_equal(zt_u32map_get(&m, i * 0x10000u), &v[i]);
	for (uint32_t i = 0; i < 4096; i += 2)
		zt_u32map_del(&m, i * 0x10000u, &v[i]);
	for (uint32_t i = 0; i < 4096; i++)
		assert_ptr_equal(zt_u32map_get(&m, i * 0x10000u),
				 i % 2 ? &v[i] : NULL);
	zt_u32map_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_put_get_del),
		cmocka_unit_test(test_against_array),
		cmocka_unit_test(test_grows),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
