/* tests/test_atomic_file.c — the files a program names, nn/io/atomic_file.c: atomic writes
 * (a temporary beside the target, renamed over it), the target left untouched by any failure,
 * stale temporaries of dead writers removed, the output-path policy (tg_output_check), and the
 * helpers around them (tg_same_file, tg_open_regular, tg_open_stream_output, tg_file_error). */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "io_test.h"
#include "nn/io/atomic_file.h"
#include "table_test.h"

TestSuite(atomic_file, .init = scratch_make, .fini = scratch_drop, .timeout = 60);

/* The file at path holds exactly the string want. */
static void expect_content(const char *path, const char *want)
{
    size_t len;
    char *got = (char *)read_bytes(path, &len);
    cr_assert_eq(len, strlen(want), "%s: %zu bytes, expected %zu", path, len, strlen(want));
    cr_assert_str_eq(got, want, "%s", path);
    free(got);
}

/* The one temporary of `name` in the scratch directory, as "<scratch>/<name>.tmp-PID-N". */
static const char *only_temporary(const char *name)
{
    cr_assert_eq(scratch_count(".tmp-"), 1, "expected exactly one temporary file");
    DIR *d = opendir(scratch);
    cr_assert_not_null(d);
    static char path[PATH_MAX + 300];
    path[0] = '\0';
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp-"))
            snprintf(path, sizeof path, "%s/%s", scratch, e->d_name);
    closedir(d);
    char prefix[300];
    snprintf(prefix, sizeof prefix, "%s.tmp-%ld-", name, (long)getpid());
    cr_assert_not_null(strstr(path, prefix), "temporary %s is not named %s<N>", path, prefix);
    return path;
}

/* The target as it should be, and no temporary left beside it. */
static void expect_target_alone(const char *path, const char *want)
{
    expect_content(path, want);
    cr_assert_eq(scratch_count(".tmp-"), 0, "a temporary file was left behind");
}

/* Writes `name` with `content`, then opens an atomic write of it with `bytes` written so far. */
static const char *old_target_and_new_write(const char *name, const char *content, tg_atomic_file *f,
                                            const char *bytes)
{
    const char *path = scratch_path(name);
    tg_error err;
    if (content)
        cr_assert_eq(tg_write_file_atomic(path, content, strlen(content), &err), TG_OK, "%s", err.msg);
    cr_assert_eq(tg_atomic_open(f, path, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(tg_atomic_write(f, bytes, strlen(bytes)), 0);
    return path;
}

/* ---- writing: the temporary, then the rename ---------------------------------------------------- */

Test(atomic_file, write_creates_and_replaces_by_rename)
{
    const char *path = scratch_path("out.txt"), *old_name = scratch_path("old-name.txt");
    tg_error err;
    cr_assert_eq(tg_write_file_atomic(path, "first", 5, &err), TG_OK, "%s", err.msg);
    expect_content(path, "first");
    /* A second name for the old file: a write in place would change it, a rename leaves it. */
    cr_assert_eq(link(path, old_name), 0, "link: %s", strerror(errno));
    cr_assert_eq(tg_write_file_atomic(path, "second, longer", 14, &err), TG_OK, "%s", err.msg);
    expect_target_alone(path, "second, longer");
    expect_content(old_name, "first");
    cr_assert_eq(tg_write_file_atomic(path, "", 0, &err), TG_OK, "%s", err.msg);
    expect_content(path, "");
}

Test(atomic_file, write_in_pieces)
{
    const char *path = scratch_path("pieces");
    tg_atomic_file f;
    tg_error err;
    cr_assert_eq(tg_atomic_open(&f, path, &err), TG_OK, "%s", err.msg);
    cr_assert(!file_exists(path), "the target exists before the rename");
    cr_assert_eq(tg_atomic_write(&f, "abc", 3), 0);
    cr_assert_eq(tg_atomic_write(&f, "", 0), 0);
    cr_assert_eq(tg_atomic_write(&f, "defg", 4), 0);
    cr_assert_eq(tg_atomic_finish(&f, 0, true, &err), TG_OK, "%s", err.msg);
    expect_content(path, "abcdefg");
    cr_assert_null(f.tmp_path, "finish frees the temporary's name");
    cr_assert_eq(f.fd, -1);
}

/* What a crash just before the rename leaves: the complete temporary beside the old target. */
Test(atomic_file, stop_before_rename_keeps_target_and_complete_temporary)
{
    tg_atomic_file f;
    tg_error err;
    const char *path = old_target_and_new_write("model", "old", &f, "new bytes");
    cr_assert_eq(tg_atomic_finish(&f, 0, false, &err), TG_OK, "%s", err.msg);
    expect_content(path, "old");
    expect_content(only_temporary("model"), "new bytes");
}

/* ---- failures leave the target as it was --------------------------------------------------------- */

/* A failed tg_atomic_write (here its errno handed to finish): the temporary goes, the target
 * stays, the message names the target and the error. */
Test(atomic_file, failed_write_keeps_target_and_removes_temporary)
{
    tg_atomic_file f;
    tg_error err;
    const char *path = old_target_and_new_write("model", "old", &f, "half");
    cr_assert_eq(tg_atomic_finish(&f, ENOSPC, true, &err), TG_ERR_IO);
    cr_assert_not_null(strstr(err.msg, path), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "cannot write its temporary file: No space left on device"), "%s", err.msg);
    expect_target_alone(path, "old");
}

/* A real failure: files of this process may not grow past 16 KiB, so write() fails with EFBIG
 * in the middle of the data.  (The test runs in its own process; the limit ends with it.) */
Test(atomic_file, file_size_limit_keeps_target_and_removes_temporary)
{
    const char *path = scratch_path("big");
    tg_error err;
    cr_assert_eq(tg_write_file_atomic(path, "old", 3, &err), TG_OK, "%s", err.msg);
    static char data[64 * 1024];
    memset(data, 'x', sizeof data);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit limit = {16 * 1024, 16 * 1024};
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &limit), 0);
    cr_assert_eq(tg_write_file_atomic(path, data, sizeof data, &err), TG_ERR_IO);
    cr_assert_not_null(strstr(err.msg, "File too large"), "%s", err.msg);
    expect_target_alone(path, "old");
}

/* Something other than a regular file appears at the path between open and finish: the rename
 * is refused, the temporary removed, the directory left as it is. */
Test(atomic_file, directory_appearing_at_the_path_is_not_replaced)
{
    tg_atomic_file f;
    tg_error err;
    const char *path = old_target_and_new_write("late", NULL, &f, "data");
    cr_assert_eq(mkdir(path, 0700), 0);
    cr_assert_eq(tg_atomic_finish(&f, 0, true, &err), TG_ERR_IO);
    cr_assert_not_null(strstr(err.msg, "is a directory"), "%s", err.msg);
    struct stat st;
    cr_assert(stat(path, &st) == 0 && S_ISDIR(st.st_mode), "the directory was replaced");
    cr_assert_eq(scratch_count(".tmp-"), 0, "the temporary was left behind");
}

Test(atomic_file, null_data_is_refused)
{
    const char *path = scratch_path("never");
    tg_error err;
    cr_assert_eq(tg_write_file_atomic(path, NULL, 3, &err), TG_ERR_ARG);
    cr_assert(!file_exists(path));
    cr_assert_eq(scratch_count(""), 0);
}

/* ---- stale temporaries ------------------------------------------------------------------------- */

/* A process id that is certainly not running: a child that has exited and been reaped. */
static long dead_pid(void)
{
    pid_t child = fork();
    cr_assert_geq(child, 0, "fork: %s", strerror(errno));
    if (child == 0)
        _exit(0);
    cr_assert_eq(waitpid(child, NULL, 0), child);
    return (long)child;
}

/* Entries put beside "target" before a write, and whether that write removes them: the
 * temporaries of "target" whose writer no longer exists go (a dead process, this process's id
 * without this process having the file open, an impossible id); a live process's temporary,
 * other targets' temporaries, names that only look alike and a directory stay. */
enum pid_kind { DEAD, MINE, INIT, LITERAL };

static const struct {
    const char *name;
    enum pid_kind pid;
    const char *format; /* %ld is the pid */
    bool directory;
    bool removed;
} stale[] = {
    /* each removed temporary next to a look-alike that stays */
    {"a dead writer's temporary", DEAD, "target.tmp-%ld-0", .removed = true},
    {"a dead writer's temporary of another target", DEAD, "other.tmp-%ld-0", false, false},
    {"a dead writer's second temporary", DEAD, "target.tmp-%ld-17", .removed = true},
    {"a longer target's temporary", DEAD, "target2.tmp-%ld-0", false, false},
    {"this process's id, not open here (an earlier process with the same id)", MINE, "target.tmp-%ld-3",
     .removed = true},
    {"a live process's temporary (init)", INIT, "target.tmp-%ld-0", false, false},
    {"pid 0", LITERAL, "target.tmp-0-0", .removed = true},
    {"letters for the pid", LITERAL, "target.tmp-abc-0", false, false},
    {"a pid over INT_MAX", LITERAL, "target.tmp-99999999999-0", .removed = true},
    {"no number after the pid", DEAD, "target.tmp-%ld-", false, false},
    {"trailing text", DEAD, "target.tmp-%ld-0.bak", false, false},
    {"a directory named like a temporary", DEAD, "target.tmp-%ld-1", true, false},
};

TABLE_TEST(atomic_file, stale_temporaries_are_removed_by_the_next_write, stale)
{
    long pid = stale[*row].pid == DEAD ? dead_pid() : stale[*row].pid == MINE ? (long)getpid() : 1;
    char name[128];
    snprintf(name, sizeof name, stale[*row].format, pid);
    const char *entry = scratch_path(name);
    if (stale[*row].directory)
        cr_assert_eq(mkdir(entry, 0700), 0);
    else
        write_bytes(entry, "stale", 5);
    tg_error err;
    cr_assert_eq(tg_write_file_atomic(scratch_path("target"), "new", 3, &err), TG_OK, "%s", err.msg);
    expect_content(scratch_path("target"), "new");
    cr_assert_eq(file_exists(entry), !stale[*row].removed, "%s (%s): %s", stale[*row].name, name,
                 stale[*row].removed ? "left behind" : "removed");
}

/* A second writer of the same path in this process does not take the first one's temporary
 * for stale; the last rename wins. */
Test(atomic_file, open_temporaries_of_this_process_are_not_stale)
{
    const char *path = scratch_path("shared");
    tg_atomic_file a, b;
    tg_error err;
    cr_assert_eq(tg_atomic_open(&a, path, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(tg_atomic_open(&b, path, &err), TG_OK, "%s", err.msg);
    cr_assert(file_exists(a.tmp_path), "the second open removed the first one's temporary");
    cr_assert_str_neq(a.tmp_path, b.tmp_path);
    cr_assert_eq(tg_atomic_write(&a, "A", 1), 0);
    cr_assert_eq(tg_atomic_write(&b, "B", 1), 0);
    cr_assert_eq(tg_atomic_finish(&a, 0, true, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(tg_atomic_finish(&b, 0, true, &err), TG_OK, "%s", err.msg);
    expect_target_alone(path, "B");
}

/* What a SIGINT handler calls before it exits: this process's open temporaries go. */
Test(atomic_file, remove_temporaries_unlinks_the_open_ones)
{
    tg_atomic_file f;
    const char *path = old_target_and_new_write("interrupted", NULL, &f, "partial");
    cr_assert(file_exists(f.tmp_path));
    tg_atomic_remove_temporaries();
    cr_assert(!file_exists(f.tmp_path), "the temporary survived");
    cr_assert(!file_exists(path));
    close(f.fd);
    free(f.tmp_path);
}

/* The longest file name a directory takes (NAME_MAX bytes) still has a legal temporary: it keeps
 * 200 bytes of the name. */
Test(atomic_file, longest_file_name_has_a_temporary)
{
    char name[NAME_MAX + 1];
    memset(name, 'n', NAME_MAX);
    name[NAME_MAX] = '\0';
    const char *path = scratch_path(name);
    tg_atomic_file f;
    tg_error err;
    cr_assert_eq(tg_atomic_open(&f, path, &err), TG_OK, "%s", err.msg);
    const char *base = strrchr(f.tmp_path, '/') + 1;
    cr_assert_eq(strspn(base, "n"), 200, "%s", base);
    cr_assert_eq(strncmp(base + 200, ".tmp-", 5), 0, "%s", base);
    cr_assert_eq(tg_atomic_finish(&f, 0, true, &err), TG_OK, "%s", err.msg);
    expect_content(path, "");
}

/* ---- the output-path policy ------------------------------------------------------------------ */

/* What stands at (or around) the path a row checks. */
enum setup { NONE, REGULAR, EMPTY, DIRECTORY, FIFO, LINK_TO_DEVICE, LINK_TO_REGULAR, PARENT_IS_FILE, READ_ONLY_DIR };

static const struct {
    const char *name;
    enum setup setup;
    const char *path; /* inside the scratch directory; "/..." as is */
    int code;
    const char *fragment;
} outputs[] = {
    {"nothing there yet", NONE, "new.out", TG_OK, NULL},
    {"a regular file", REGULAR, "file", TG_OK, NULL},
    {"a link to a regular file", LINK_TO_REGULAR, "link", TG_OK, NULL},
    {"a directory", DIRECTORY, "dir", TG_ERR_IO, "is a directory, not a file to write"},
    {"a name ending in '/'", DIRECTORY, "dir/", TG_ERR_IO, "names a directory, not a file to write"},
    {"a FIFO", FIFO, "fifo", TG_ERR_IO, "is a FIFO, not a regular file: refusing to replace it"},
    {"a link to a device", LINK_TO_DEVICE, "null", TG_ERR_IO, "is a character device, not a regular file"},
    {"a device", NONE, "/dev/null", TG_ERR_IO, "is a character device, not a regular file"},
    {"a missing directory", NONE, "no/such/out", TG_ERR_IO, "No such file or directory"},
    {"a file as the directory", PARENT_IS_FILE, "file/out", TG_ERR_IO, "is not a directory"},
    {"a directory without write permission", READ_ONLY_DIR, "ro/out", TG_ERR_IO, "cannot write into directory"},
    {"an empty path", NONE, "", TG_ERR_ARG, "an empty file name"},
};

TABLE_TEST(atomic_file, output_check, outputs)
{
    const char *name = outputs[*row].name, *rel = outputs[*row].path;
    switch (outputs[*row].setup) {
    case NONE: case EMPTY: break;
    case REGULAR: case PARENT_IS_FILE: write_bytes(scratch_path("file"), "x", 1); break;
    case DIRECTORY: cr_assert_eq(mkdir(scratch_path("dir"), 0700), 0); break;
    case FIFO: cr_assert_eq(mkfifo(scratch_path("fifo"), 0600), 0); break;
    case LINK_TO_DEVICE: cr_assert_eq(symlink("/dev/null", scratch_path("null")), 0); break;
    case LINK_TO_REGULAR:
        write_bytes(scratch_path("file"), "x", 1);
        cr_assert_eq(symlink("file", scratch_path("link")), 0);
        break;
    case READ_ONLY_DIR:
        if (geteuid() == 0)
            scratch_skip_test("%s: root writes into any directory", name);
        cr_assert_eq(mkdir(scratch_path("ro"), 0500), 0);
        break;
    }
    const char *path = rel[0] == '/' || rel[0] == '\0' ? rel : scratch_path(rel);
    tg_error err;
    tg_error_clear(&err);
    int rc = tg_output_check(path, &err);
    cr_assert_eq(rc, outputs[*row].code, "%s: rc %d (%s)", name, rc, err.msg);
    if (outputs[*row].fragment)
        cr_assert_not_null(strstr(err.msg, outputs[*row].fragment), "%s: message \"%s\" lacks \"%s\"", name, err.msg,
                           outputs[*row].fragment);
    if (rc != TG_OK && path[0])
        cr_assert_not_null(strstr(err.msg, path), "%s: message \"%s\" does not name the path", name, err.msg);
}

Test(atomic_file, file_name_over_name_max_is_refused)
{
    char name[NAME_MAX + 2];
    memset(name, 'n', NAME_MAX + 1);
    name[NAME_MAX + 1] = '\0';
    tg_error err;
    cr_assert_eq(tg_output_check(scratch_path(name), &err), TG_ERR_IO);
    char want[64];
    snprintf(want, sizeof want, "file name of %d bytes, over the %d-byte limit", NAME_MAX + 1, NAME_MAX);
    cr_assert_not_null(strstr(err.msg, want), "%s", err.msg);
}

/* An output directory: an existing one is taken as it is; a missing one is checked (not made)
 * like a file to be written there, and tg_make_output_dir makes it; anything else is refused. */
Test(atomic_file, output_dir_is_checked_before_it_is_made)
{
    tg_error err;
    bool exists = false;
    cr_assert_eq(mkdir(scratch_path("dir"), 0700), 0);
    cr_assert_eq(tg_output_dir_check(scratch_path("dir"), &exists, &err), TG_OK, "%s", err.msg);
    cr_assert(exists);
    const char *missing[] = {"new", "new/", "new//"};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(tg_output_dir_check(scratch_path(missing[i]), &exists, &err), TG_OK, "%s: %s", missing[i], err.msg);
        cr_assert(!exists, "%s", missing[i]);
        cr_assert(access(scratch_path("new"), F_OK) != 0, "%s: the check made the directory", missing[i]);
    }
    cr_assert_eq(tg_make_output_dir(scratch_path("new/"), &err), TG_OK, "%s", err.msg);
    struct stat st;
    cr_assert(stat(scratch_path("new"), &st) == 0 && S_ISDIR(st.st_mode));
    cr_assert_eq(tg_make_output_dir(scratch_path("new"), &err), TG_OK, "an existing one: %s", err.msg);
    write_bytes(scratch_path("file"), "x", 1);
    cr_assert_eq(symlink("nowhere", scratch_path("dangling")), 0);
    const char *refused[][2] = {{"file", "not a directory"}, {"no/such", "No such file or directory"},
                                {"file/sub", "Not a directory"}, {"dangling", "a symbolic link to nothing"},
                                {"dangling/", "a symbolic link to nothing"}};
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(tg_output_dir_check(scratch_path(refused[i][0]), &exists, &err), TG_ERR_IO, "%s", refused[i][0]);
        cr_assert_not_null(strstr(err.msg, refused[i][1]), "%s: \"%s\" lacks \"%s\"", refused[i][0], err.msg,
                           refused[i][1]);
        cr_assert_neq(tg_make_output_dir(scratch_path(refused[i][0]), &err), TG_OK, "%s", refused[i][0]);
    }
}

/* A write is refused where the policy refuses, and leaves what is there as it was. */
Test(atomic_file, write_refuses_a_fifo_and_leaves_it)
{
    const char *path = scratch_path("fifo");
    cr_assert_eq(mkfifo(path, 0600), 0);
    tg_error err;
    cr_assert_eq(tg_write_file_atomic(path, "data", 4, &err), TG_ERR_IO);
    cr_assert_not_null(strstr(err.msg, "FIFO"), "%s", err.msg);
    struct stat st;
    cr_assert(stat(path, &st) == 0 && S_ISFIFO(st.st_mode), "the FIFO was replaced");
    cr_assert_eq(scratch_count(".tmp-"), 0);
}

/* ---- the same file under two names ------------------------------------------------------------ */

Test(atomic_file, same_file)
{
    char dotted[PATH_MAX + 300];
    snprintf(dotted, sizeof dotted, "%s/./a", scratch);
    const char *a = scratch_path("a"), *b = scratch_path("b"), *hard = scratch_path("hard");
    cr_assert(tg_same_file(a, a), "one name, nothing there yet");
    cr_assert(tg_same_file(a, dotted), "two spellings of one name, nothing there yet");
    char slashed[PATH_MAX + 300];
    snprintf(slashed, sizeof slashed, "%s/a//", scratch);
    cr_assert(tg_same_file(slashed, a), "a name with trailing slashes, nothing there yet");
    cr_assert(!tg_same_file(a, b), "two names, nothing there");
    write_bytes(a, "x", 1);
    cr_assert(tg_same_file(a, dotted), "two spellings of an existing file");
    cr_assert(!tg_same_file(a, b), "an existing file and a missing one");
    cr_assert_eq(link(a, hard), 0);
    cr_assert(tg_same_file(a, hard), "hard links are one file");
    write_bytes(b, "x", 1);
    cr_assert(!tg_same_file(a, b), "two files with the same content");
}

/* ---- opening files to read, and logs ----------------------------------------------------------- */

static const struct {
    const char *name;
    enum setup setup;
    const char *path;
    int code;
    int open_errno;
    const char *fragment;
} inputs[] = {
    {"a regular file", REGULAR, "file", TG_OK, 0, NULL},
    {"an empty file", EMPTY, "empty", TG_ERR_FORMAT, 0, "empty file, not a test input"},
    {"a directory", DIRECTORY, "dir", TG_ERR_IO, 0, "is a directory, not a test input"},
    {"a FIFO without a writer: no hang", FIFO, "fifo", TG_ERR_IO, 0, "not a regular file (a FIFO), not a test input"},
    {"a missing file", NONE, "missing", TG_ERR_IO, ENOENT, "cannot open: No such file or directory"},
};

TABLE_TEST(atomic_file, open_regular, inputs)
{
    const char *name = inputs[*row].name;
    switch (inputs[*row].setup) {
    case REGULAR: write_bytes(scratch_path("file"), "12345", 5); break;
    case EMPTY: write_bytes(scratch_path("empty"), "", 0); break;
    case DIRECTORY: cr_assert_eq(mkdir(scratch_path("dir"), 0700), 0); break;
    case FIFO: cr_assert_eq(mkfifo(scratch_path("fifo"), 0600), 0); break;
    default: break; /* nothing there */
    }
    const char *path = scratch_path(inputs[*row].path);
    int fd = 99, open_errno = -1;
    uint64_t size = 0;
    tg_error err;
    tg_error_clear(&err);
    int rc = tg_open_regular(path, "a test input", &fd, &size, &open_errno, &err);
    cr_assert_eq(rc, inputs[*row].code, "%s: rc %d (%s)", name, rc, err.msg);
    cr_assert_eq(open_errno, inputs[*row].open_errno, "%s: open_errno %d", name, open_errno);
    if (rc == TG_OK) {
        cr_assert_eq(size, 5, "%s", name);
        char buf[8];
        cr_assert_eq(read(fd, buf, sizeof buf), 5, "%s: a plain blocking read", name);
        cr_assert_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0, "%s: still non-blocking", name);
        close(fd);
    } else {
        cr_assert_eq(fd, -1, "%s", name);
        cr_assert_not_null(strstr(err.msg, inputs[*row].fragment), "%s: message \"%s\" lacks \"%s\"", name, err.msg,
                           inputs[*row].fragment);
        cr_assert_eq(strncmp(err.msg, path, strlen(path)), 0, "%s: %s", name, err.msg);
    }
}

Test(atomic_file, stream_output_appends_or_empties)
{
    const char *path = scratch_path("log");
    write_bytes(path, "old\n", 4);
    FILE *f;
    tg_error err;
    cr_assert_eq(tg_open_stream_output(path, true, &f, &err), TG_OK, "%s", err.msg);
    fputs("more\n", f);
    fclose(f);
    expect_content(path, "old\nmore\n");
    cr_assert_eq(tg_open_stream_output(path, false, &f, &err), TG_OK, "%s", err.msg);
    fputs("new\n", f);
    fclose(f);
    expect_content(path, "new\n");

    const char *fifo = scratch_path("fifo");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    f = (FILE *)1;
    cr_assert_eq(tg_open_stream_output(fifo, true, &f, &err), TG_ERR_IO);
    cr_assert_null(f);
    cr_assert_eq(mkdir(scratch_path("dir"), 0700), 0);
    cr_assert_eq(tg_open_stream_output(scratch_path("dir"), false, &f, &err), TG_ERR_IO);
    cr_assert_not_null(strstr(err.msg, "is a directory"), "%s", err.msg);
}

/* ---- messages ---------------------------------------------------------------------------------- */

/* A path too long for the message keeps its start and its end, "..." between them, and the
 * problem in full; a short one is kept whole. */
Test(atomic_file, file_error_shortens_the_middle_of_a_long_path)
{
    tg_error err;
    cr_assert_eq(tg_file_error(&err, TG_ERR_IO, "dir/x.ckpt", "cannot open: %s", "No such file"), TG_ERR_IO);
    cr_assert_str_eq(err.msg, "dir/x.ckpt: cannot open: No such file");
    cr_assert_eq(err.code, TG_ERR_IO);

    char path[1001];
    for (int i = 0; i < 1000; i++)
        path[i] = (char)('a' + i % 26);
    path[1000] = '\0';
    memcpy(path + 990, "/last.ckpt", 10);
    cr_assert_eq(tg_file_error(&err, TG_ERR_FORMAT, path, "bad magic"), TG_ERR_FORMAT);
    size_t len = strlen(err.msg);
    cr_assert_lt(len, TG_ERROR_MSG_MAX);
    cr_assert_eq(strncmp(err.msg, "abcdefghij", 10), 0, "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "..."), "%s", err.msg);
    cr_assert_str_eq(err.msg + len - strlen("/last.ckpt: bad magic"), "/last.ckpt: bad magic");

    /* multi-byte characters are not cut in the middle: "é" is 0xC3 0xA9 */
    char accents[801];
    for (int i = 0; i < 800; i += 2)
        memcpy(accents + i, "\xC3\xA9", 2);
    accents[800] = '\0';
    tg_file_error(&err, TG_ERR_IO, accents, "x");
    const char *dots = strstr(err.msg, "...");
    cr_assert_not_null(dots, "%s", err.msg);
    cr_assert_eq((unsigned char)dots[-1], 0xA9, "the head ends inside a character");
    cr_assert_eq((unsigned char)dots[3], 0xC3, "the tail starts inside a character");
}
