/* Replays a fuzz target's corpus (tests/fuzz/corpus/NAME, or the files and
 * folders named on the command line): any crash or sanitizer report fails. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    uint8_t *buf;
    size_t n;

    if (f == NULL || fstat(fileno(f), &st) != 0) {
        fprintf(stderr, "cannot read %s\n", path);
        if (f)
            fclose(f);
        return -1;
    }
    /* An exact-size heap copy lets ASan see reads past the input. */
    buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
    n = fread(buf, 1, (size_t)st.st_size, f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

static int replay(const char *path, int *count)
{
    struct stat st;
    DIR *d;
    struct dirent *e;
    char child[4096];

    if (stat(path, &st) != 0) {
        fprintf(stderr, "no corpus at %s\n", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        (*count)++;
        return replay_file(path);
    }
    if ((d = opendir(path)) == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
        if (replay(child, count) != 0) {
            closedir(d);
            return -1;
        }
    }
    closedir(d);
    return 0;
}

int main(int argc, char **argv)
{
    const char *top = getenv("top_srcdir");
    char dflt[4096];
    int count = 0;

    if (argc < 2) {
        snprintf(dflt, sizeof(dflt), "%s/tests/fuzz/corpus/%s", top ? top : ".", FUZZ_NAME);
        if (replay(dflt, &count) != 0 || count == 0) {
            printf("not ok - fuzz %s: corpus %s missing or empty\n", FUZZ_NAME, dflt);
            return 1;
        }
    } else {
        for (int i = 1; i < argc; i++)
            if (replay(argv[i], &count) != 0)
                return 1;
    }
    printf("ok - fuzz %s: %d inputs replayed without a crash\n", FUZZ_NAME, count);
    return 0;
}
