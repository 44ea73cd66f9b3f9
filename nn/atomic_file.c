/* Atomic file writes: temp file, fsync, rename (see atomic_file.h). */
#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int tg_atomic_open(tg_atomic_file *f, const char *path, tg_error *err)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
    if (!path || !*path)
        return tg_error_set(err, TG_ERR_ARG, "write: empty path");
    size_t cap = strlen(path) + 64;
    char *name = malloc(cap);
    if (!name)
        return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
    for (int attempt = 0; attempt < 1000; attempt++) {
        snprintf(name, cap, "%s.tmp-%ld-%d", path, (long)getpid(), attempt);
        int fd;
        do /* 0666 minus the umask, as for any new file */
            fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        while (fd < 0 && errno == EINTR);
        if (fd >= 0) {
            f->fd = fd;
            f->tmp_path = name;
            f->path = path;
            return TG_OK;
        }
        if (errno != EEXIST) {
            int rc = tg_error_set(err, TG_ERR_IO, "%s: cannot create temporary file %s: %s", path, name, strerror(errno));
            free(name);
            return rc;
        }
    }
    free(name);
    return tg_error_set(err, TG_ERR_IO, "%s: cannot create a temporary file: 1000 names %s.tmp-%ld-* already exist",
                        path, path, (long)getpid());
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
    const char *slash = strrchr(path, '/');
    size_t len = slash ? (slash == path ? 1 : (size_t)(slash - path)) : 1;
    char *dir = malloc(len + 1);
    if (!dir)
        return;
    memcpy(dir, slash ? path : ".", len);
    dir[len] = '\0';
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
        rc = tg_error_set(err, TG_ERR_IO, "%s: cannot write temporary file %s: %s", path, tmp, strerror(write_errno));
    } else if (fsync(f->fd) != 0) {
        int e = errno;
        close(f->fd);
        rc = tg_error_set(err, TG_ERR_IO, "%s: cannot fsync temporary file %s: %s", path, tmp, strerror(e));
    } else if (close(f->fd) != 0) { /* close can report a delayed write error (e.g. on NFS) */
        rc = tg_error_set(err, TG_ERR_IO, "%s: cannot close temporary file %s: %s", path, tmp, strerror(errno));
    } else if (rename_over && rename(tmp, path) != 0) {
        rc = tg_error_set(err, TG_ERR_IO, "%s: cannot rename temporary file %s over it: %s", path, tmp, strerror(errno));
    }
    if (rc != TG_OK)
        unlink(tmp);
    else if (rename_over)
        sync_parent_directory(path);
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
