/* VM harness self-test: a cmocka binary with one failing test; the harness
 * must report the run as failed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

static void passes(void **state) { (void)state; }
static void fails(void **state) { (void)state; assert_int_equal(1, 2); }

int main(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(passes),
        cmocka_unit_test(fails),
    };
    return cmocka_run_group_tests(t, NULL, NULL);
}
