/* Sealing upstream credentials: what is sealed opens only with the same key
 * and the same owner, any altered byte is refused, and key files are strict. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "secrets.h"

static char dir[] = "/tmp/mcpgw-test-secrets.XXXXXX";

static void setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(secrets, .init = setup, .fini = teardown);

static void new_key(const char *name, struct sec_key *k)
{
    char path[256], why[256];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    cr_assert_eq(sec_key_create(path, why, sizeof(why)), 0, "%s", why);
    cr_assert_eq(sec_key_load(path, k, why, sizeof(why)), 0, "%s", why);
}

static void write_file(const char *name, const void *data, size_t n, char *path, size_t pn)
{
    FILE *f;

    snprintf(path, pn, "%s/%s", dir, name);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

Test(secrets, seal_then_open_gives_back_the_plaintext)
{
    struct sec_key k;
    const char *pt = "{\"token\":\"s3cret-bearer\"}";
    unsigned char *sealed, *opened;
    size_t sl, ol;

    new_key("k", &k);
    cr_assert_eq(sec_seal(&k, "server:1:auth", (const unsigned char *)pt, strlen(pt), &sealed, &sl), 0);
    cr_assert_eq(sl, strlen(pt) + SEC_OVERHEAD);
    cr_assert_null(memmem(sealed, sl, "s3cret", 6), "the plaintext shows through");
    cr_assert_eq(sec_open(&k, "server:1:auth", sealed, sl, &opened, &ol), 0);
    cr_assert_eq(ol, strlen(pt));
    cr_assert_str_eq((char *)opened, pt);
    sec_free(opened, ol);
    free(sealed);
}

Test(secrets, every_seal_uses_a_fresh_nonce)
{
    struct sec_key k;
    unsigned char *a, *b;
    size_t al, bl;

    new_key("k", &k);
    cr_assert_eq(sec_seal(&k, "x", (const unsigned char *)"same", 4, &a, &al), 0);
    cr_assert_eq(sec_seal(&k, "x", (const unsigned char *)"same", 4, &b, &bl), 0);
    cr_assert_neq(memcmp(a, b, SEC_NONCE_LEN), 0);
    cr_assert_neq(memcmp(a, b, al), 0);
    free(a);
    free(b);
}

Test(secrets, another_owner_cannot_open_it)
{
    struct sec_key k;
    unsigned char *sealed, *opened;
    size_t sl, ol;

    new_key("k", &k);
    cr_assert_eq(sec_seal(&k, "server:1:auth", (const unsigned char *)"pw", 2, &sealed, &sl), 0);
    cr_assert_eq(sec_open(&k, "server:2:auth", sealed, sl, &opened, &ol), -1);
    cr_assert_null(opened);
    free(sealed);
}

Test(secrets, another_key_cannot_open_it)
{
    struct sec_key k1, k2;
    unsigned char *sealed, *opened;
    size_t sl, ol;

    new_key("k1", &k1);
    new_key("k2", &k2);
    cr_assert_str_neq(k1.id, k2.id);
    cr_assert_eq(sec_seal(&k1, "a", (const unsigned char *)"pw", 2, &sealed, &sl), 0);
    cr_assert_eq(sec_open(&k2, "a", sealed, sl, &opened, &ol), -1);
    free(sealed);
}

Test(secrets, any_altered_byte_is_refused)
{
    struct sec_key k;
    unsigned char *sealed, *opened;
    size_t sl, ol;

    new_key("k", &k);
    cr_assert_eq(sec_seal(&k, "a", (const unsigned char *)"password", 8, &sealed, &sl), 0);
    for (size_t i = 0; i < sl; i++) {
        sealed[i] ^= 0x01;
        cr_assert_eq(sec_open(&k, "a", sealed, sl, &opened, &ol), -1, "byte %zu", i);
        sealed[i] ^= 0x01;
    }
    cr_assert_eq(sec_open(&k, "a", sealed, sl - 1, &opened, &ol), -1);
    cr_assert_eq(sec_open(&k, "a", sealed, 3, &opened, &ol), -1);
    cr_assert_eq(sec_open(&k, "a", sealed, sl, &opened, &ol), 0);
    sec_free(opened, ol);
    free(sealed);
}

Test(secrets, key_files_hex_or_raw_and_nothing_else)
{
    struct sec_key hexk, rawk;
    unsigned char raw[32];
    char path[256], why[256], hex[66];

    for (int i = 0; i < 32; i++)
        raw[i] = (unsigned char)(i * 7 + 1);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02X", raw[i]);
    hex[64] = '\n';
    write_file("hex", hex, 65, path, sizeof(path));
    cr_assert_eq(sec_key_load(path, &hexk, why, sizeof(why)), 0, "%s", why);
    write_file("raw", raw, 32, path, sizeof(path));
    cr_assert_eq(sec_key_load(path, &rawk, why, sizeof(why)), 0, "%s", why);
    cr_assert_eq(memcmp(hexk.k, rawk.k, 32), 0);
    cr_assert_str_eq(hexk.id, rawk.id);

    write_file("short", hex, 40, path, sizeof(path));
    cr_assert_eq(sec_key_load(path, &hexk, why, sizeof(why)), -1);
    cr_assert(strstr(why, "64 hex digits") != NULL, "%s", why);
    hex[10] = 'z';
    write_file("nothex", hex, 65, path, sizeof(path));
    cr_assert_eq(sec_key_load(path, &hexk, why, sizeof(why)), -1);
    cr_assert(strstr(why, "zz") == NULL && strstr(why, hex) == NULL, "the key leaks: %s", why);
    snprintf(path, sizeof(path), "%s/missing", dir);
    cr_assert_eq(sec_key_load(path, &hexk, why, sizeof(why)), -1);
    cr_assert(strstr(why, "missing") != NULL);
    cr_assert_eq(sec_key_load("", &hexk, why, sizeof(why)), -1);
    cr_assert(strstr(why, "secret_key_file") != NULL);
}

Test(secrets, created_key_files_are_private_and_never_replaced)
{
    struct stat st;
    char path[256], why[256];

    snprintf(path, sizeof(path), "%s/new", dir);
    cr_assert_eq(sec_key_create(path, why, sizeof(why)), 0, "%s", why);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(st.st_size, 65);
    cr_assert_eq(sec_key_create(path, why, sizeof(why)), -1);
}
