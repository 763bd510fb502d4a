/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The space reserve: one file of vigil's own, ROOT/.vigil-reserve, whose
 * blocks are allocated while there is room and given back (unlinked) the
 * moment the file system is full, so that the catalog can write the rows
 * retention needs before it may delete a segment (a full disk refuses
 * SQLite the few WAL pages of "mark deleting"; docs/design/recording.md
 * says why the reserve is enough). Recovery and the catalog checks leave
 * it alone: its name starts with a dot. Blocking file-system calls: the
 * storage watchdog's worker thread. Never touches any other file. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define VIGIL_RESERVE_NAME      ".vigil-reserve"
#define VIGIL_RESERVE_MIN_BYTES (G_GUINT64_CONSTANT (1) << 20)    /* 1 MiB */
#define VIGIL_RESERVE_MAX_BYTES (G_GUINT64_CONSTANT (64) << 20)   /* 64 MiB */

/* The reserve for a file system of @total_bytes: 1 % of it, at least
 * 1 MiB and at most 64 MiB, but never more than a sixteenth of it (a test
 * file system of a few MiB keeps most of its room). */
guint64  vigil_reserve_size_for (guint64 total_bytes);
/* Bytes the reserve under @root holds on disk now (allocated blocks); 0
 * when there is none. */
guint64  vigil_reserve_get_size (const gchar *root);
/* Makes the reserve under @root @size_bytes long with every block
 * allocated (fallocate, so nothing is written on file systems that have
 * it). If the file system cannot hold it all, the reserve is removed
 * again and the error is G_IO_ERROR_NO_SPACE. */
gboolean vigil_reserve_set      (const gchar *root,
                                 guint64      size_bytes,
                                 GError     **error);
/* Removes the reserve under @root, which gives its blocks back to the
 * file system at once; @out_released_bytes (may be NULL) says how many.
 * No reserve is not an error. */
gboolean vigil_reserve_remove   (const gchar *root,
                                 guint64     *out_released_bytes,
                                 GError     **error);

G_END_DECLS
