/* Socket access and the responders' identity: mode and group applied to the
 * unix socket, root refused without a user, a named user resolved and kept. */
#include <criterion/criterion.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "supervisor.h"

static char dir[64], sock[128];

static void make_socket(void)
{
    char err[256];
    int fd;

    snprintf(dir, sizeof(dir), "/tmp/mcpgw-priv.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(sock, sizeof(sock), "%s/gw.sock", dir);
    fd = sup_open_listener(sock, NULL, 8, err, sizeof(err));
    cr_assert_geq(fd, 0, "%s", err);
    close(fd);
}

static void remove_socket(void)
{
    unlink(sock);
    rmdir(dir);
}

TestSuite(privileges, .init = make_socket, .fini = remove_socket);

Test(privileges, socket_gets_mode_and_group)
{
    struct group *g = getgrnam("nogroup");
    struct stat st;
    char err[256];

    cr_assert_not_null(g);
    cr_assert_eq(sup_socket_access(sock, "0660", "nogroup", err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(stat(sock, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0660, "mode %o", st.st_mode & 07777);
    cr_assert_eq(st.st_gid, g->gr_gid);
}

Test(privileges, socket_refuses_bad_mode_and_unknown_group)
{
    char err[256];

    cr_assert_eq(sup_socket_access(sock, "rw-rw----", "", err, sizeof(err)), -1);
    cr_assert_not_null(strstr(err, "not an octal mode"), "%s", err);
    cr_assert_eq(sup_socket_access(sock, "0660", "no-such-group-xyz", err, sizeof(err)), -1);
    cr_assert_not_null(strstr(err, "no-such-group-xyz"), "%s", err);
}

Test(privileges, root_without_user_is_refused_unless_allowed)
{
    struct sup_identity id;
    char err[256];

    if (geteuid() != 0)
        cr_skip_test("needs root");
    cr_assert_eq(sup_identity_resolve("", "", 0, &id, err, sizeof(err)), -1);
    cr_assert_not_null(strstr(err, "refusing to run responders as root"), "%s", err);
    cr_assert_eq(sup_identity_resolve("root", "", 0, &id, err, sizeof(err)), -1);
    cr_assert_eq(sup_identity_resolve("", "", 1, &id, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(id.change, 0);
    cr_assert_eq(sup_identity_resolve("no-such-user-xyz", "", 0, &id, err, sizeof(err)), -1);
    cr_assert_not_null(strstr(err, "no-such-user-xyz"), "%s", err);
}

Test(privileges, a_named_user_is_applied_and_root_cannot_come_back)
{
    struct passwd *pw = getpwnam("nobody");
    struct group *g = getgrnam("nogroup");
    struct sup_identity id;
    char err[256];
    pid_t pid;
    int status;

    if (geteuid() != 0)
        cr_skip_test("needs root");
    cr_assert_not_null(pw);
    cr_assert_not_null(g);
    cr_assert_eq(sup_identity_resolve("nobody", "nogroup", 0, &id, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(id.change, 1);
    cr_assert_eq(id.uid, pw->pw_uid);
    cr_assert_eq(id.gid, g->gr_gid);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        gid_t groups[64];
        int n;

        if (sup_identity_apply(&id, err, sizeof(err)) != 0)
            _exit(10);
        if (getuid() != pw->pw_uid || geteuid() != pw->pw_uid || getgid() != g->gr_gid)
            _exit(11);
        n = getgroups(64, groups);
        for (int i = 0; i < n; i++)
            if (groups[i] == 0)
                _exit(12);  /* root's supplementary groups were kept */
        _exit(setuid(0) == 0 ? 13 : 0);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status));
    cr_assert_eq(WEXITSTATUS(status), 0, "child failed at step %d", WEXITSTATUS(status));
}
