/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Making a file, or a change to a folder (a file created, renamed or
 * unlinked in it), durable before the catalog or a caller relies on it.
 * Blocking: worker threads, or start-up. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* fsync()s @path (a file or a folder); G_IO_ERROR naming it on failure. */
gboolean vigil_fsync_path (const gchar *path,
                           GError     **error);

G_END_DECLS
