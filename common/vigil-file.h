/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Reading a small file that someone else may have put in vigild's way (a
 * configuration, a camera's password file, a bundle's manifest): a FIFO
 * or device never blocks the reader, a file never grows the reader's
 * memory past a bound, and a file holding a secret must be private. Works
 * on the descriptor it opened, never on the path again. Blocking file
 * I/O; any thread. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  VIGIL_FILE_DEFAULT  = 0,
  VIGIL_FILE_NOFOLLOW = 1 << 0,   /* refuse a symbolic link (the path's last part) */
  VIGIL_FILE_PRIVATE  = 1 << 1,   /* refuse a file group or others may access (mode & 077) */
} VigilFileFlags;

/* The whole regular file at @path, at most @max_bytes, NUL-terminated
 * (@out_size, may be NULL, excludes the NUL). Errors are G_FILE_ERROR with
 * a message that does not repeat the path: "missing", "is a symbolic
 * link, not a file", "is not a regular file", "is larger than N bytes",
 * "is readable by others (mode 0644); make it 0600", or the system's. */
gchar *vigil_file_read (const gchar   *path,
                        gsize          max_bytes,
                        VigilFileFlags flags,
                        gsize         *out_size,
                        GError       **error);

G_END_DECLS
