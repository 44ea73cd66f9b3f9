/* The files a program names: non-blocking opens, the output policy, atomic writes (see
 * atomic_file.h). */
#include "atomic_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The temporary's name keeps at most this much of the target's file name, so that with
 * ".tmp-PID-N" it stays under NAME_MAX (255) for any legal target name. */
#define TMP_STEM_MAX 200
#define MAX_LIVE_TEMPS 8

/* ---- messages ------------------------------------------------------------------------------ */

/* Index of the nearest byte at or after i (before is false: at or before) that starts a UTF-8
 * character, so that a shortened path is not cut inside one. */
static size_t char_boundary(const char *s, size_t i, size_t len, bool forward)
{
    while (i > 0 && i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
        i += forward ? 1 : (size_t)-1;
    return i;
}

int tg_file_error(tg_error *err, int code, const char *path, const char *fmt, ...)
{
    char detail[TG_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    if (!path)
        path = "(no path)";
    size_t len = strlen(path), used = strlen(detail) + 2; /* ": " */
    size_t room = used + 1 < TG_ERROR_MSG_MAX ? TG_ERROR_MSG_MAX - 1 - used : 0;
    if (len <= room)
        return tg_error_set(err, code, "%s: %s", path, detail);
    if (room < 16) /* no room for a useful part of the path: the problem matters more */
        return tg_error_set(err, code, "...: %s", detail);
    /* Both ends of the path (its start says where, its end which file), "..." between them. */
    size_t head = char_boundary(path, (room - 3) / 2, len, false);
    size_t tail_start = char_boundary(path, len - (room - 3 - (room - 3) / 2), len, true);
    return tg_error_set(err, code, "%.*s...%s: %s", (int)head, path, path + tail_start, detail);
}

/* ---- reading ------------------------------------------------------------------------------- */

static const char *kind_of_mode(mode_t mode)
{
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

int tg_open_regular(const char *path, const char *kind, int *fd_out, uint64_t *size, int *open_errno, tg_error *err)
{
    *fd_out = -1;
    *open_errno = 0;
    int fd;
    do
        fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        *open_errno = errno;
        return tg_file_error(err, TG_ERR_IO, path, "cannot open: %s", strerror(errno));
    }
    struct stat st;
    int rc = TG_OK;
    if (fstat(fd, &st) != 0)
        rc = tg_file_error(err, TG_ERR_IO, path, "cannot stat: %s", strerror(errno));
    else if (S_ISDIR(st.st_mode))
        rc = tg_file_error(err, TG_ERR_IO, path, "is a directory, not %s", kind);
    else if (!S_ISREG(st.st_mode))
        rc = tg_file_error(err, TG_ERR_IO, path, "not a regular file (%s), not %s", kind_of_mode(st.st_mode), kind);
    else if (st.st_size == 0)
        rc = tg_file_error(err, TG_ERR_FORMAT, path, "empty file, not %s", kind);
    /* Reads of a regular file do not block anyway; clearing the flag keeps them plain. */
    else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0)
        rc = tg_file_error(err, TG_ERR_IO, path, "cannot open: %s", strerror(errno));
    if (rc) {
        close(fd);
        return rc;
    }
    *fd_out = fd;
    *size = (uint64_t)st.st_size;
    return TG_OK;
}

/* ---- the output policy ------------------------------------------------------------------------ */

/* The directory part of path ("." when it has none, "/" for "/x"), malloc'ed; and where its
 * file name starts. */
static char *directory_of(const char *path, const char **name)
{
    const char *slash = strrchr(path, '/');
    size_t len = slash ? (slash == path ? 1 : (size_t)(slash - path)) : 1;
    char *dir = malloc(len + 1);
    if (dir) {
        memcpy(dir, slash ? path : ".", len);
        dir[len] = '\0';
    }
    if (name)
        *name = slash ? slash + 1 : path;
    return dir;
}

/* path without its trailing slashes, malloc'ed: "x/" and "x" name one file ("/" stays "/"). */
static char *without_trailing_slashes(const char *path)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        len--;
    return strndup(path, len);
}

/* Refuses anything at path but a regular file (following a symbolic link: the link itself
 * would be replaced, but a link to a device says the user meant the device). */
static int check_replaceable(const char *path, tg_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT)
            return TG_OK;
        return tg_file_error(err, TG_ERR_IO, path, "cannot write: %s", strerror(errno));
    }
    if (S_ISDIR(st.st_mode))
        return tg_file_error(err, TG_ERR_IO, path, "is a directory, not a file to write");
    if (!S_ISREG(st.st_mode))
        return tg_file_error(err, TG_ERR_IO, path, "is %s, not a regular file: refusing to replace it",
                             kind_of_mode(st.st_mode));
    return TG_OK;
}

int tg_output_check(const char *path, tg_error *err)
{
    if (!path || !*path)
        return tg_error_set(err, TG_ERR_ARG, "'': an empty file name");
    const char *name;
    char *dir = directory_of(path, &name);
    if (!dir)
        return tg_file_error(err, TG_ERR_NOMEM, path, "out of memory");
    int rc = TG_OK;
    struct stat st;
    if (!*name)
        rc = tg_file_error(err, TG_ERR_IO, path, "names a directory, not a file to write");
    else if (strlen(name) > NAME_MAX)
        rc = tg_file_error(err, TG_ERR_IO, path, "file name of %zu bytes, over the %d-byte limit", strlen(name), NAME_MAX);
    else if (stat(dir, &st) != 0)
        rc = tg_file_error(err, TG_ERR_IO, path, "directory %s: %s", dir, strerror(errno));
    else if (!S_ISDIR(st.st_mode))
        rc = tg_file_error(err, TG_ERR_IO, path, "%s is not a directory", dir);
    else if (access(dir, W_OK | X_OK) != 0)
        rc = tg_file_error(err, TG_ERR_IO, path, "cannot write into directory %s: %s", dir, strerror(errno));
    else
        rc = check_replaceable(path, err);
    free(dir);
    return rc;
}

int tg_output_dir_check(const char *dir, bool *exists, tg_error *err)
{
    struct stat st;
    *exists = stat(dir, &st) == 0;
    if (*exists)
        return S_ISDIR(st.st_mode) ? TG_OK : tg_file_error(err, TG_ERR_IO, dir, "not a directory");
    if (errno != ENOENT)
        return tg_file_error(err, TG_ERR_IO, dir, "%s", strerror(errno));
    /* To be made: checked as a file to be written there would be, without the trailing slashes
     * (which would make it name a directory, and make lstat follow a link). */
    char *name = without_trailing_slashes(dir);
    if (!name)
        return tg_file_error(err, TG_ERR_NOMEM, dir, "out of memory");
    int rc = lstat(name, &st) == 0 /* mkdir would find the link there */
                 ? tg_file_error(err, TG_ERR_IO, dir, "a symbolic link to nothing, not a directory")
                 : tg_output_check(name, err);
    free(name);
    return rc;
}

int tg_make_output_dir(const char *dir, tg_error *err)
{
    struct stat st;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return tg_file_error(err, TG_ERR_IO, dir, "cannot create the directory: %s", strerror(errno));
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return tg_file_error(err, TG_ERR_IO, dir, "not a directory");
    return TG_OK;
}

bool tg_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    bool has_a = stat(a, &sa) == 0, has_b = stat(b, &sb) == 0;
    if (has_a && has_b)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    if (has_a != has_b)
        return false;
    const char *name_a = NULL, *name_b = NULL;
    char *trimmed_a = without_trailing_slashes(a), *trimmed_b = without_trailing_slashes(b);
    char *dir_a = trimmed_a ? directory_of(trimmed_a, &name_a) : NULL;
    char *dir_b = trimmed_b ? directory_of(trimmed_b, &name_b) : NULL;
    bool same = dir_a && dir_b && strcmp(name_a, name_b) == 0 && stat(dir_a, &sa) == 0 && stat(dir_b, &sb) == 0 &&
                sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    free(dir_a), free(dir_b), free(trimmed_a), free(trimmed_b);
    return same;
}

int tg_open_stream_output(const char *path, bool append, FILE **out, tg_error *err)
{
    *out = NULL;
    int rc = tg_output_check(path, err);
    if (rc)
        return rc;
    /* O_NONBLOCK: a FIFO that appeared since the check fails (ENXIO without a reader) or is
     * refused by fstat below, instead of blocking.  No O_TRUNC before fstat says what it is. */
    int fd;
    do
        fd = open(path, O_WRONLY | O_CREAT | O_NONBLOCK | O_CLOEXEC | (append ? O_APPEND : 0), 0666);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return tg_file_error(err, TG_ERR_IO, path, "cannot open for writing: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        rc = tg_file_error(err, TG_ERR_IO, path, "not a regular file: refusing to write to it");
    else if (!append && ftruncate(fd, 0) != 0)
        rc = tg_file_error(err, TG_ERR_IO, path, "cannot empty it: %s", strerror(errno));
    else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0)
        rc = tg_file_error(err, TG_ERR_IO, path, "cannot open for writing: %s", strerror(errno));
    FILE *f = rc ? NULL : fdopen(fd, append ? "a" : "w");
    if (!f) {
        if (!rc)
            rc = tg_file_error(err, TG_ERR_IO, path, "cannot open for writing: %s", strerror(errno));
        close(fd);
        return rc;
    }
    *out = f;
    return TG_OK;
}

/* ---- temporaries --------------------------------------------------------------------------- */

/* The temporaries this process has open, for tg_atomic_remove_temporaries.  A slot is taken
 * before the file is created and emptied before the file is renamed or removed, so a handler
 * never unlinks a name that has become the target. */
static _Atomic(char *) g_live[MAX_LIVE_TEMPS];

static void register_temp(char *name)
{
    for (int i = 0; i < MAX_LIVE_TEMPS; i++) {
        char *expected = NULL;
        if (atomic_compare_exchange_strong(&g_live[i], &expected, name))
            return;
    }
}

static bool unregister_temp(const char *name)
{
    for (int i = 0; i < MAX_LIVE_TEMPS; i++) {
        char *expected = (char *)name;
        if (atomic_compare_exchange_strong(&g_live[i], &expected, NULL))
            return true;
    }
    return false;
}

static bool is_registered(const char *name)
{
    for (int i = 0; i < MAX_LIVE_TEMPS; i++) {
        char *p = atomic_load(&g_live[i]);
        if (p && strcmp(p, name) == 0)
            return true;
    }
    return false;
}

void tg_atomic_remove_temporaries(void)
{
    for (int i = 0; i < MAX_LIVE_TEMPS; i++) {
        char *p = atomic_exchange(&g_live[i], NULL);
        if (p)
            unlink(p);
    }
}

/* Whether `entry` is "STEM.tmp-PID-N" with digits for PID and N; *pid receives PID. */
static bool parse_temp_name(const char *entry, const char *stem, size_t stem_len, long *pid)
{
    if (strncmp(entry, stem, stem_len) != 0 || strncmp(entry + stem_len, ".tmp-", 5) != 0)
        return false;
    const char *p = entry + stem_len + 5;
    char *end;
    if (*p < '0' || *p > '9')
        return false;
    *pid = strtol(p, &end, 10);
    if (*end != '-' || end[1] < '0' || end[1] > '9')
        return false;
    strtol(end + 1, &end, 10);
    return *end == '\0';
}

/* Removes the temporaries of `path` that no running process owns: a writer killed with SIGKILL
 * (or a crash) cannot clean up after itself, and its temporary can be as large as the file.
 * A temporary of another live process is left alone; one carrying this process's id but not
 * opened by it comes from an earlier process that had the same id. */
static void remove_stale_temporaries(const char *dir, const char *stem, size_t stem_len)
{
    DIR *d = opendir(dir);
    if (!d)
        return; /* best effort: the write itself will report a directory it cannot use */
    size_t dir_len = strlen(dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        long pid;
        if (!parse_temp_name(e->d_name, stem, stem_len, &pid))
            continue;
        char *full = malloc(dir_len + strlen(e->d_name) + 2);
        if (!full)
            break;
        sprintf(full, "%s/%s", dir, e->d_name);
        bool stale = pid == (long)getpid() ? !is_registered(full)
                                           : pid <= 0 || pid > INT_MAX || (kill((pid_t)pid, 0) != 0 && errno == ESRCH);
        struct stat st;
        if (stale && lstat(full, &st) == 0 && S_ISREG(st.st_mode))
            unlink(full);
        free(full);
    }
    closedir(d);
}

int tg_atomic_open(tg_atomic_file *f, const char *path, tg_error *err)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
    int rc = tg_output_check(path, err);
    if (rc)
        return rc;
    const char *base;
    char *dir = directory_of(path, &base);
    size_t stem_len = strlen(base) < TMP_STEM_MAX ? strlen(base) : TMP_STEM_MAX;
    size_t cap = strlen(path) + 64;
    char *name = dir ? malloc(cap) : NULL;
    if (!name) {
        free(dir);
        return tg_file_error(err, TG_ERR_NOMEM, path, "out of memory");
    }
    remove_stale_temporaries(dir, base, stem_len);
    for (int attempt = 0; attempt < 1000; attempt++) {
        /* dir "." when path has no slash: "./name.tmp-..." names the same file */
        snprintf(name, cap, "%s/%.*s.tmp-%ld-%d", dir, (int)stem_len, base, (long)getpid(), attempt);
        register_temp(name);
        int fd;
        do /* 0666 minus the umask, as for any new file */
            fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        while (fd < 0 && errno == EINTR);
        if (fd >= 0) {
            free(dir);
            f->fd = fd;
            f->tmp_path = name;
            f->path = path;
            return TG_OK;
        }
        int e = errno;
        unregister_temp(name);
        if (e != EEXIST) {
            rc = tg_file_error(err, TG_ERR_IO, path, "cannot create a temporary file beside it: %s", strerror(e));
            free(name);
            free(dir);
            return rc;
        }
    }
    free(name);
    free(dir);
    return tg_file_error(err, TG_ERR_IO, path, "cannot create a temporary file: 1000 names *.tmp-%ld-* already exist",
                         (long)getpid());
}

int tg_atomic_write(tg_atomic_file *f, const void *bytes, size_t n)
{
    const unsigned char *p = bytes;
    while (n > 0) {
        ssize_t w = write(f->fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (w == 0)
            return EIO; /* a regular file never accepts zero bytes without an error */
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* fsync the directory holding path, so the rename itself is durable.  Best effort: the new file
 * is already in place when this runs, and some file systems refuse fsync on a directory. */
static void sync_parent_directory(const char *path)
{
    char *dir = directory_of(path, NULL);
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

int tg_atomic_finish(tg_atomic_file *f, int write_errno, bool rename_over, tg_error *err)
{
    const char *path = f->path, *tmp = f->tmp_path;
    int rc = TG_OK;
    if (write_errno) {
        close(f->fd);
        rc = tg_file_error(err, TG_ERR_IO, path, "cannot write its temporary file: %s", strerror(write_errno));
    } else if (fsync(f->fd) != 0) {
        int e = errno;
        close(f->fd);
        rc = tg_file_error(err, TG_ERR_IO, path, "cannot fsync its temporary file: %s", strerror(e));
    } else if (close(f->fd) != 0) { /* close can report a delayed write error (e.g. on NFS) */
        rc = tg_file_error(err, TG_ERR_IO, path, "cannot close its temporary file: %s", strerror(errno));
    } else if (rename_over) {
        /* Checked again: something other than a regular file may have appeared at the path
         * since tg_atomic_open, and rename would replace it all the same. */
        rc = check_replaceable(path, err);
        unregister_temp(tmp);
        if (rc == TG_OK && rename(tmp, path) != 0)
            rc = tg_file_error(err, TG_ERR_IO, path, "cannot rename its temporary file over it: %s", strerror(errno));
    } else {
        unregister_temp(tmp); /* kept on purpose: tests look at it */
    }
    if (rc != TG_OK) {
        unregister_temp(tmp);
        unlink(tmp);
    } else if (rename_over) {
        sync_parent_directory(path);
    }
    free(f->tmp_path);
    memset(f, 0, sizeof *f);
    f->fd = -1;
    return rc;
}

int tg_write_file_atomic(const char *path, const void *data, size_t len, tg_error *err)
{
    if (!data && len > 0)
        return tg_error_set(err, TG_ERR_ARG, "%s: NULL data", path ? path : "write");
    tg_atomic_file f;
    int rc = tg_atomic_open(&f, path, err);
    if (rc)
        return rc;
    return tg_atomic_finish(&f, tg_atomic_write(&f, data, len), true, err);
}
