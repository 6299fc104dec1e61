
/*
 * write_map (MDB_WRITEMAP) on a full filesystem: QLM_STORE_FULL, never a
 * SIGBUS; what is stored stays readable, and writes work again once space
 * returns.  The filesystem is a 3 MiB tmpfs (mounting needs root: the test
 * is skipped without).  And a writable map is read without read-ahead
 * (the kernel's "rr" flag of the mapping), a read-only one with it.
 */

#include "qlm_test.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>


#define MAP_SIZE    (4 * 1024 * 1024)
#define FILLER      (512 * 1024)


static char  body[1000];


typedef struct {
    size_t    n;
    size_t    bad;
} walk_t;


static int
walk(const qlm_store_item_t *it, void *data)
{
    walk_t  *w;

    w = data;

    w->n++;

    if (!qlm_t_str_is(it->body, body) || !qlm_t_str_is(it->event_id, "wm"))
    {
        w->bad++;
    }

    return 0;
}


static int
filler(const char *fs)
{
    int     fd;
    char    path[400], buf[4096];
    size_t  n;

    snprintf(path, sizeof(path), "%s/filler", fs);

    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd == -1) {
        return -1;
    }

    memset(buf, 'f', sizeof(buf));

    for (n = 0; n < FILLER; n += sizeof(buf)) {
        if (write(fd, buf, sizeof(buf)) != (ssize_t) sizeof(buf)) {
            close(fd);
            return -1;
        }
    }

    return close(fd);
}


/* the child's work: exit status 0 when every check holds */

static int
fill(const char *fs)
{
    int                   rc;
    size_t                ok, more;
    walk_t                w;
    qlm_store_t          *st;
    qlm_store_item_t      it;
    qlm_store_stat_t      stat;
    qlm_store_options_t   opts;
    char                  path[400];

    snprintf(path, sizeof(path), "%s/store", fs);

    memset(&opts, 0, sizeof(opts));
    opts.map_size = MAP_SIZE;
    opts.write_map = 1;
    opts.no_sync = 1;

    if (qlm_store_open(&st, path, &opts) != 0) {
        return 10;
    }

    for (ok = 0; ok < 100000; ok++) {
        it = qlm_t_item(ok + 1, "wm", "writemap", "http://wm/", body);

        rc = qlm_store_enqueue(st, &it, 1);

        if (rc == QLM_STORE_FULL) {
            break;
        }

        if (rc != 0) {
            fprintf(stderr, "# enqueue: %s\n", qlm_store_strerror(rc));
            return 11;
        }
    }

    fprintf(stderr, "# %zu items of 1 KB before the filesystem was full\n",
            ok);

    if (ok < 50 || ok == 100000) {
        return 12;
    }

    /* full again, and the map is not: it is the disk */

    if (qlm_store_enqueue(st, &it, 1) != QLM_STORE_FULL) {
        return 13;
    }

    if (qlm_store_stat(st, 0, &stat) != 0 || stat.queued != ok
        || stat.map_used > MAP_SIZE / 2)
    {
        return 14;
    }

    memset(&w, 0, sizeof(w));

    if (qlm_store_queue_foreach(st, walk, &w) != 0 || w.n != ok || w.bad) {
        return 15;
    }

    /* room again once a file elsewhere on the filesystem goes */

    snprintf(path, sizeof(path), "%s/filler", fs);

    if (unlink(path) != 0) {
        return 16;
    }

    for (more = 0; more < 20; more++) {
        it = qlm_t_item(ok + more + 1, "wm", "writemap", "http://wm/", body);

        if (qlm_store_enqueue(st, &it, 1) != 0) {
            return 17;
        }
    }

    memset(&w, 0, sizeof(w));

    if (qlm_store_queue_foreach(st, walk, &w) != 0 || w.n != ok + more
        || w.bad)
    {
        return 18;
    }

    qlm_store_close(st);

    /* and it reopens */

    snprintf(path, sizeof(path), "%s/store", fs);

    if (qlm_store_open(&st, path, &opts) != 0) {
        return 19;
    }

    memset(&w, 0, sizeof(w));

    if (qlm_store_queue_foreach(st, walk, &w) != 0 || w.n != ok + more) {
        return 20;
    }

    qlm_store_close(st);

    return 0;
}


static void
test_full_disk(void **state)
{
    int          status, mounted;
    pid_t        pid;
    qlm_test_t  *t;
    char         fs[280];

    t = *state;

    memset(body, 'b', sizeof(body) - 1);

    snprintf(fs, sizeof(fs), "%s/fs", t->dir);

    assert_int_equal(mkdir(fs, 0700), 0);

    if (mount("tmpfs", fs, "tmpfs", 0, "size=3m,mode=0700") != 0) {
        print_message("# mount tmpfs: %s\n", strerror(errno));
        skip();
    }

    mounted = 1;

    if (filler(fs) != 0) {
        (void) umount2(fs, MNT_DETACH);
        fail_msg("filler: %s", strerror(errno));
    }

    pid = fork();
    assert_true(pid != -1);

    if (pid == 0) {
        _exit(fill(fs));
    }

    assert_int_equal(waitpid(pid, &status, 0), pid);

    if (mounted) {
        (void) umount2(fs, MNT_DETACH);
    }

    if (WIFSIGNALED(status)) {
        fail_msg("the writer was killed by signal %d", WTERMSIG(status));
    }

    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}


/*
 * The VmFlags of the mapping of "file" in /proc/self/smaps into flags:
 * 1 when found.
 */

static int
map_flags(const char *file, char *flags, size_t size)
{
    int     in;
    char    line[1024];
    FILE   *f;
    size_t  n, len;

    f = fopen("/proc/self/smaps", "r");
    if (f == NULL) {
        return 0;
    }

    in = 0;
    len = strlen(file);

    while (fgets(line, sizeof(line), f)) {
        n = strlen(line);

        if (n && line[n - 1] == '\n') {
            line[--n] = '\0';
        }

        if (strncmp(line, "VmFlags:", 8) == 0) {
            if (in) {
                snprintf(flags, size, "%s ", line + 8);
                fclose(f);
                return 1;
            }

            continue;
        }

        /* a mapping's first line: "start-end perms offset dev inode path" */

        if (strchr(line, '-') && strchr(line, ':') && !strstr(line, ": ")) {
            in = (n >= len && strcmp(line + n - len, file) == 0);
        }
    }

    fclose(f);

    return 0;
}


static void
test_no_readahead(void **state)
{
    qlm_test_t           *t;
    char                  path[400], flags[1024];
    qlm_store_options_t   opts;

    t = *state;

    memset(&opts, 0, sizeof(opts));
    opts.map_size = MAP_SIZE;
    opts.write_map = 1;

    assert_int_equal(qlm_t_open(t, &opts), 0);

    qlm_t_path(t, path, sizeof(path));
    strcat(path, "/data.mdb");

    if (!map_flags(path, flags, sizeof(flags))) {
        print_message("# no mapping of %s in /proc/self/smaps\n", path);
        skip();
    }

    if (strstr(flags, " rr ") == NULL) {
        fail_msg("a writable map reads ahead, VmFlags:%s", flags);
    }

    qlm_store_close(t->st);

    /* qlm-store's reading commands keep the kernel's read-ahead */

    opts.write_map = 0;
    opts.read_only = 1;

    assert_int_equal(qlm_t_open(t, &opts), 0);
    assert_true(map_flags(path, flags, sizeof(flags)));

    if (strstr(flags, " rr ") != NULL) {
        fail_msg("a read-only map reads no ahead, VmFlags:%s", flags);
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        QLM_T(test_full_disk),
        QLM_T(test_no_readahead),
    };

    return cmocka_run_group_tests_name("writemap", tests, NULL, NULL);
}
