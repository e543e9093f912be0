/* VM harness self-test: a cmocka binary whose tests pass (one skips). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static void env_is_set(void **state)
{
    (void)state;
    const char *r = getenv("KTL_REQUIRE_KTLS");
    assert_non_null(r);
    assert_string_equal(r, "1");
    assert_non_null(getenv("KTL_FIXTURES"));
}

static void fixtures_visible(void **state)
{
    (void)state;
    char p[4096];
    const char *f = getenv("KTL_FIXTURES");
    snprintf(p, sizeof p, "%s/selftest.txt", f ? f : "build/fixtures");
    FILE *fp = fopen(p, "r");
    if (!fp)
        skip();
    fclose(fp);
}

static void ulp_probe_runs(void **state)
{
    (void)state;
    const char *b = getenv("KTL_BUILD");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s/vm/selftest/ulp_probe", b ? b : "build");
    assert_int_equal(system(cmd), 0);
}

static void skipped_on_purpose(void **state)
{
    (void)state;
    skip();
}

int main(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(env_is_set),
        cmocka_unit_test(fixtures_visible),
        cmocka_unit_test(ulp_probe_runs),
        cmocka_unit_test(skipped_on_purpose),
    };
    return cmocka_run_group_tests(t, NULL, NULL);
}
