/* nn/io/atomic_file.h — the files a program is told to read or write: opening them without ever
 * blocking, one policy for every output path, writing so that a crash never leaves a damaged
 * file at its path, and messages that name them.
 *
 * Writing: the bytes go to a temporary file "PATH.tmp-PID-N" in the same directory (created
 * exclusively; the name's first part is PATH's file name cut to 200 bytes, so any legal file
 * name has a legal temporary), which is fsynced, closed and renamed over PATH; then the directory
 * is fsynced (best effort).  Until the rename the old file at PATH is untouched; on any failure
 * the temp file is removed.  Only a regular file (or nothing) at PATH is ever replaced: a device,
 * FIFO, socket or directory there is refused, so `--out /dev/null` cannot turn a device node into
 * a file.  Temporaries left by a process that no longer exists (killed with SIGKILL, or a crash)
 * are removed by the next write to the same path; tg_atomic_remove_temporaries removes this
 * process's own from a signal handler.
 *
 *     tg_atomic_file f;
 *     if (tg_atomic_open(&f, path, err)) return err->code;
 *     int e = tg_atomic_write(&f, bytes, n);          // as often as needed; 0 or an errno
 *     return tg_atomic_finish(&f, e, true, err);      // commit, or clean up after e != 0
 *
 * Internal (not installed): the writers in nn/io and the programs under models/ use it. */
#ifndef TG_ATOMIC_FILE_H
#define TG_ATOMIC_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tensor/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_atomic_file {
    int fd;
    char *tmp_path; /* malloc'ed */
    const char *path;
} tg_atomic_file;

/* Creates the temporary file for `path` (after tg_output_check's checks of the path, and after
 * removing stale temporaries of dead processes for the same path). */
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

/* Unlinks the temporary files this process has open (async-signal-safe: for a SIGINT/SIGTERM
 * handler that then exits). */
void tg_atomic_remove_temporaries(void);

/* The output-path policy, for every file a program writes (checkpoints, logs, pictures, CSVs),
 * to be called before any work starts: the path is not empty, its file name fits NAME_MAX, its
 * directory exists and is writable, and it names nothing or a regular file (not a directory,
 * device, FIFO or socket). */
int tg_output_check(const char *path, tg_error *err);

/* The same policy for an output directory (--out DIR), checked before any work: DIR is a
 * directory, or one level of it can be made (its parent is a writable directory and its name
 * fits); *exists says which.  tg_make_output_dir makes it when the first output is written, so
 * a command that fails before then leaves no empty directory behind. */
int tg_output_dir_check(const char *dir, bool *exists, tg_error *err);
int tg_make_output_dir(const char *dir, tg_error *err);

/* Whether a and b name the same file: the same device and inode when both exist, else the same
 * name in the same directory (so "x", "./x" and "x/" are one file before it is created). */
bool tg_same_file(const char *a, const char *b);

/* Opens a user-named file for reading without blocking: O_NONBLOCK (open() of a FIFO with no
 * writer would otherwise wait forever), then fstat, and only a non-empty regular file is kept.
 * `kind` names what the file should be in messages ("an IDX file").  *open_errno receives errno
 * when open() itself failed (callers try another name on ENOENT), else 0.  On success *fd_out
 * is a blocking descriptor and *size the file's size. */
int tg_open_regular(const char *path, const char *kind, int *fd_out, uint64_t *size, int *open_errno, tg_error *err);

/* Opens an output that is written as it goes (a training log): created if missing, appended to
 * when `append`, else emptied; only a regular file is accepted, and opening never blocks. */
int tg_open_stream_output(const char *path, bool append, FILE **out, tg_error *err);

/* Records "PATH: DETAIL" in err, shortening the middle of PATH when the whole would not fit in
 * the message, so the problem is always stated in full. */
int tg_file_error(tg_error *err, int code, const char *path, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#ifdef __cplusplus
}
#endif

#endif
