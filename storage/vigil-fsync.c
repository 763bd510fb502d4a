/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vigil_fsync_path(); see vigil-fsync.h. */
#include "vigil-fsync.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <unistd.h>

gboolean
vigil_fsync_path (const gchar *path, GError **error)
{
  int fd = g_open (path, O_RDONLY | O_CLOEXEC, 0);
  int saved;

  if (fd >= 0 && fsync (fd) == 0)
    return g_close (fd, error);
  saved = errno;
  if (fd >= 0)
    g_close (fd, NULL);
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot sync %s: %s", path, g_strerror (saved));
  return FALSE;
}
