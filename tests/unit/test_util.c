/* Helpers every module relies on: bounded copies, request ids that stay unique
 * across fork, loopback detection. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

Test(util, strlcpy_reports_truncation)
{
    char buf[4];

    cr_assert_eq(gw_strlcpy(buf, "abc", sizeof(buf)), 0);
    cr_assert_str_eq(buf, "abc");
    cr_assert_eq(gw_strlcpy(buf, "abcd", sizeof(buf)), -1);
    cr_assert_str_eq(buf, "abc");
}

Test(util, random_ids_are_hex_and_distinct)
{
    char a[33], b[33];

    cr_assert_eq(gw_random_id(a), 0);
    cr_assert_eq(gw_random_id(b), 0);
    cr_assert_eq(strlen(a), 32);
    cr_assert_eq(strspn(a, "0123456789abcdef"), 32);
    cr_assert_str_neq(a, b);
}

Test(util, random_ids_differ_between_parent_and_forked_child)
{
    char parent[33], child[33] = "", first[33];
    int fds[2], status;
    pid_t pid;

    /* Fill the pool before forking: a child that kept it would draw the
     * parent's next id. */
    cr_assert_eq(gw_random_id(first), 0);
    cr_assert_eq(pipe(fds), 0);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        char id[33];

        close(fds[0]);
        if (gw_random_id(id) != 0 || write(fds[1], id, 32) != 32)
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    cr_assert_eq(read(fds[0], child, 32), 32);
    close(fds[0]);
    waitpid(pid, &status, 0);
    cr_assert_eq(gw_random_id(parent), 0);
    cr_assert_str_neq(parent, child, "child reused the parent's pool");
}

Test(util, cached_pid_is_the_childs_after_fork)
{
    int status;
    pid_t child;

    cr_assert_eq(gw_pid(), (int)getpid());
    child = fork();
    cr_assert_geq(child, 0);
    if (child == 0)
        _exit(gw_pid() == (int)getpid() && gw_pid() != (int)getppid() ? 0 : 1);
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child saw its parent's pid");
    cr_assert_eq(gw_pid(), (int)getpid());
}

Test(util, loopback_hosts)
{
    cr_assert(gw_host_is_loopback("127.0.0.1"));
    cr_assert(gw_host_is_loopback("127.8.9.10"));
    cr_assert(gw_host_is_loopback("::1"));
    cr_assert(gw_host_is_loopback("localhost"));
    cr_assert_not(gw_host_is_loopback("128.0.0.1"));
    cr_assert_not(gw_host_is_loopback("10.0.0.1"));
    cr_assert_not(gw_host_is_loopback("localhost.example"));
}

static const char *masked(const char *in)
{
    static char out[512];

    gw_mask_secrets(in, out, sizeof(out));
    return out;
}

Test(util, mask_secrets_hides_url_passwords)
{
    cr_assert_str_eq(masked("redis://:secret@127.0.0.1:6379/0"), "redis://:***@127.0.0.1:6379/0");
    cr_assert_str_eq(masked("redis://app:secret@h:1"), "redis://app:***@h:1");
    cr_assert_str_eq(masked("redis://secret@h:1/2"), "redis://***@h:1/2");
    cr_assert_str_eq(masked("url = postgresql://u:p@ss@db/x?sslmode=require"),
                     "url = postgresql://u:***@db/x?sslmode=require");
    cr_assert_str_eq(masked("cannot reach https://user:pw@idp/keys: timeout"),
                     "cannot reach https://user:***@idp/keys: timeout");
    cr_assert_str_eq(masked("redis://127.0.0.1:6379/0"), "redis://127.0.0.1:6379/0");
}

Test(util, mask_secrets_hides_dsn_passwords)
{
    cr_assert_str_eq(masked("host=db user=gw password=secret dbname=x"),
                     "host=db user=gw password=*** dbname=x");
    cr_assert_str_eq(masked("password = 'a b\\' c' host=db"), "password=*** host=db");
    cr_assert_str_eq(masked("PASSWORD=s3"), "password=***");
    cr_assert_str_eq(masked("postgresql://db/x?user=u&password=p&sslmode=require"),
                     "postgresql://db/x?user=u&password=***&sslmode=require");
    /* Words that merely contain the key are left alone. */
    cr_assert_str_eq(masked("old_password=x"), "old_password=x");
    cr_assert_str_eq(masked("password authentication failed for user \"gw\""),
                     "password authentication failed for user \"gw\"");
}

Test(util, mask_secrets_is_bounded)
{
    char out[12];

    gw_mask_secrets("host=db password=secret", out, sizeof(out));
    cr_assert_eq(strlen(out), sizeof(out) - 1);
    cr_assert_null(strstr(out, "secret"));
}

Test(util, unhex_round_trips_and_refuses_other_characters)
{
    const unsigned char in[4] = { 0x00, 0x9f, 0xa0, 0xff };
    unsigned char out[4];
    char hex[9];

    gw_hex(in, sizeof(in), hex);
    cr_assert_eq(gw_unhex(hex, sizeof(out), out), 0);
    cr_assert_eq(memcmp(in, out, sizeof(in)), 0);
    cr_assert_eq(gw_unhex("0g", 1, out), -1);
    cr_assert_eq(gw_unhex("A0", 1, out), -1, "upper case is not ours");
    cr_assert_eq(gw_unhex("0\n", 1, out), -1);
}

Test(util, uuids_are_version_4_and_distinct)
{
    char a[37], b[37];

    cr_assert_eq(gw_uuid(a), 0);
    cr_assert_eq(gw_uuid(b), 0);
    cr_assert_eq(strlen(a), 36);
    cr_assert(a[8] == '-' && a[13] == '-' && a[18] == '-' && a[23] == '-');
    cr_assert_eq(a[14], '4', "version 4");
    cr_assert(strchr("89ab", a[19]) != NULL, "RFC 4122 variant");
    cr_assert_str_neq(a, b);
}

Test(util, sink_gathers_a_body_up_to_its_limit)
{
    struct gw_sink s = { .max = 8 };
    char part[] = "abcde";

    cr_assert_eq(gw_sink_write(part, 1, 5, &s), 5);
    cr_assert_str_eq(s.buf, "abcde");
    cr_assert_eq(gw_sink_write(part, 1, 3, &s), 3, "up to the limit exactly");
    cr_assert_str_eq(s.buf, "abcdeabc");
    cr_assert_not(s.too_big);
    cr_assert_eq(gw_sink_write(part, 1, 1, &s), 0, "one byte more aborts the transfer");
    cr_assert(s.too_big);
    cr_assert_eq(s.len, 8);
    free(s.buf);
}
