/* nn/atomic_file.h — writing a file so that a crash never leaves a damaged one at its path.
 *
 * The bytes go to a temporary file "PATH.tmp-PID-N" in the same directory (created exclusively:
 * a stale temp file from a crash, or another writer's, is never reused), which is fsynced,
 * closed and renamed over PATH; then the directory is fsynced (best effort).  Until the rename
 * the old file at PATH is untouched; on any failure the temp file is removed.
 *
 *     tg_atomic_file f;
 *     if (tg_atomic_open(&f, path, err)) return err->code;
 *     int e = tg_atomic_write(&f, bytes, n);          // as often as needed; 0 or an errno
 *     return tg_atomic_finish(&f, e, true, err);      // commit, or clean up after e != 0 */
#ifndef TG_ATOMIC_FILE_H
#define TG_ATOMIC_FILE_H

#include <stdbool.h>
#include <stddef.h>

#include "tensor/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_atomic_file {
    int fd;
    char *tmp_path; /* malloc'ed */
    const char *path;
} tg_atomic_file;

/* Creates the temporary file for `path`. */
int tg_atomic_open(tg_atomic_file *f, const char *path, tg_error *err);
/* Writes all n bytes (retrying partial and interrupted writes); 0, or the errno of the failure. */
int tg_atomic_write(tg_atomic_file *f, const void *bytes, size_t n);
/* Ends the write.  write_errno != 0 (a failed tg_atomic_write): removes the temp file and reports
 * it.  Otherwise fsyncs and closes the temp file, then renames it over the path — unless
 * `rename_over` is false, which leaves the complete temp file in place and the path untouched
 * (the state a crash just before the rename leaves; tests use it).  Frees f's memory. */
int tg_atomic_finish(tg_atomic_file *f, int write_errno, bool rename_over, tg_error *err);

/* The whole sequence for bytes already in memory. */
int tg_write_file_atomic(const char *path, const void *data, size_t len, tg_error *err);

#ifdef __cplusplus
}
#endif

#endif
