/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Making a file, or a change to a folder (a file created, renamed or
 * unlinked in it), durable before the catalog or a caller relies on it.
 * "Never lose a segment" rests on this: a file is on disk only once its
 * data and the name in its folder are both synced, so every module that
 * writes something a crash must not lose goes through here. Blocking:
 * worker threads, or start-up. Never follows a caller's symbolic link to
 * a folder it was not given. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Errors are G_IO_ERROR naming the path, with G_IO_ERROR_NO_SPACE for both
 * ENOSPC and EDQUOT (a full disk or a spent quota). */

/* fsync()s @path (a file or a folder); G_IO_ERROR naming it on failure. */
gboolean vigil_fsync_path             (const gchar *path,
                                       GError     **error);

/* Makes the regular file at @path durable under its name: fsync()s the
 * file, then its folder and each parent folder up to, not including,
 * @root (folders a new file may have had created for it, such as a new
 * day's), or only its own folder when @root is NULL or not a prefix of
 * @path. @out_size_bytes (may be NULL) gets the file's size as synced.
 * G_IO_ERROR naming the file or folder that failed. */
gboolean vigil_fsync_file_and_folders (const gchar *path,
                                       const gchar *root,
                                       guint64     *out_size_bytes,
                                       GError     **error);

G_END_DECLS
