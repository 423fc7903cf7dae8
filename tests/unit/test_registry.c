/* Registry helpers that guard SQL parameters: server names, ids, and the
 * opaque list cursor, which must round-trip and refuse anything else. */
#include <criterion/criterion.h>
#include <string.h>

#include "registry.h"

Test(registry, names_follow_the_spec_pattern)
{
    cr_assert(reg_name_valid("weather"));
    cr_assert(reg_name_valid("0-a"));
    cr_assert(reg_name_valid("a23456789012345678901234567890123456789012345678"));
    cr_assert_not(reg_name_valid("a234567890123456789012345678901234567890123456789"));
    cr_assert_not(reg_name_valid(""));
    cr_assert_not(reg_name_valid("-a"));
    cr_assert_not(reg_name_valid("Weather"));
    cr_assert_not(reg_name_valid("we_ather"));
    cr_assert_not(reg_name_valid("a b"));
    cr_assert_not(reg_name_valid(NULL));
}

Test(registry, ids_are_uuids)
{
    cr_assert(reg_uuid_valid("2fc1144e-f4f7-4625-bc5f-5e5b0a5147f9"));
    cr_assert_not(reg_uuid_valid("2fc1144e-f4f7-4625-bc5f-5e5b0a5147f"));
    cr_assert_not(reg_uuid_valid("2fc1144e f4f7-4625-bc5f-5e5b0a5147f9"));
    cr_assert_not(reg_uuid_valid("2fc1144e-f4f7-4625-bc5f-5e5b0a5147g9"));
    cr_assert_not(reg_uuid_valid("' OR 1=1 --"));
}

Test(registry, cursors_round_trip_and_are_url_safe)
{
    char cur[900], name[64], id[64];

    cr_assert_eq(reg_cursor_encode("a-one", "2fc1144e-f4f7-4625-bc5f-5e5b0a5147f9", cur, sizeof(cur)), 0);
    cr_assert_eq(strspn(cur, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                 strlen(cur));
    cr_assert_eq(reg_cursor_decode(cur, name, sizeof(name), id, sizeof(id)), 0);
    cr_assert_str_eq(name, "a-one");
    cr_assert_str_eq(id, "2fc1144e-f4f7-4625-bc5f-5e5b0a5147f9");
    /* every length of padding the encoder drops */
    for (int n = 1; n <= 4; n++) {
        char nm[8] = "abcd";

        nm[n] = '\0';
        cr_assert_eq(reg_cursor_encode(nm, "x", cur, sizeof(cur)), 0);
        cr_assert_eq(reg_cursor_decode(cur, name, sizeof(name), id, sizeof(id)), 0);
        cr_assert_str_eq(name, nm);
        cr_assert_str_eq(id, "x");
    }
}

Test(registry, cursors_refuse_what_was_not_given_out)
{
    char name[64], id[64];

    cr_assert_eq(reg_cursor_decode("", name, sizeof(name), id, sizeof(id)), -1);
    cr_assert_eq(reg_cursor_decode("not a cursor", name, sizeof(name), id, sizeof(id)), -1);
    cr_assert_eq(reg_cursor_decode("YWJj", name, sizeof(name), id, sizeof(id)), -1); /* "abc": no separator */
    cr_assert_eq(reg_cursor_decode("YQBiCmM", name, sizeof(name), id, sizeof(id)), -1); /* NUL inside */
    cr_assert_eq(reg_cursor_decode("A", name, sizeof(name), id, sizeof(id)), -1);
    cr_assert_eq(reg_cursor_decode("YWJjCmRlZg==", name, sizeof(name), id, sizeof(id)), -1); /* padding */
    cr_assert_eq(reg_cursor_decode("YWJjCmRlZg", name, 3, id, sizeof(id)), -1);            /* too long */
}
