
/*
 * qlm_slot unit tests: the start of a task's period at, after and before
 * its anchor, at exact multiples of the period included.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include "qlm_slot.h"


/* 2026-03-15T12:00:00Z */
#define QLM_T_ANCHOR  1773576000


static void
test_at_and_after_anchor(void **state)
{
    int64_t  a;

    a = QLM_T_ANCHOR;

    assert_int_equal(qlm_slot_start(a, a, 3600), a);
    assert_int_equal(qlm_slot_start(a + 1, a, 3600), a);
    assert_int_equal(qlm_slot_start(a + 3599, a, 3600), a);
    assert_int_equal(qlm_slot_start(a + 3600, a, 3600), a + 3600);
    assert_int_equal(qlm_slot_start(a + 7201, a, 3600), a + 7200);
}


static void
test_before_anchor(void **state)
{
    int64_t  a;

    a = QLM_T_ANCHOR;

    assert_int_equal(qlm_slot_start(a - 1, a, 3600), a - 3600);
    assert_int_equal(qlm_slot_start(a - 3599, a, 3600), a - 3600);
    assert_int_equal(qlm_slot_start(a - 3601, a, 3600), a - 7200);
}


/* the case that was one period early: now is the start of a period */

static void
test_exact_negative_multiples(void **state)
{
    int64_t  a;

    a = QLM_T_ANCHOR;

    assert_int_equal(qlm_slot_start(a - 3600, a, 3600), a - 3600);
    assert_int_equal(qlm_slot_start(a - 7200, a, 3600), a - 7200);
    assert_int_equal(qlm_slot_start(a - 86400, a, 60), a - 86400);
    assert_int_equal(qlm_slot_start(-86400, 0, 86400), -86400);
    assert_int_equal(qlm_slot_start(-1, 0, 86400), -86400);
}


/* every second of two days around the anchor, with several periods */

static void
test_sweep(void **state)
{
    int64_t   a, now, s;
    unsigned  i;

    static const int64_t  every[] = { 1, 7, 60, 900, 3600, 86400 };

    a = QLM_T_ANCHOR;

    for (i = 0; i < sizeof(every) / sizeof(every[0]); i++) {
        for (now = a - 86400; now <= a + 86400; now++) {
            s = qlm_slot_start(now, a, every[i]);

            assert_true(s <= now);
            assert_true(now < s + every[i]);
            assert_int_equal((s - a) % every[i], 0);
        }
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_at_and_after_anchor),
        cmocka_unit_test(test_before_anchor),
        cmocka_unit_test(test_exact_negative_multiples),
        cmocka_unit_test(test_sweep),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
