/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Durable files and folders; see vigil-fsync.h. */
#include "vigil-fsync.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static gboolean
sync_failed (const gchar *path, int saved_errno, GError **error)
{
  /* GLib 2.74 calls EDQUOT G_IO_ERROR_FAILED; for vigil a quota is a
   * full disk like any other, and callers tell it by the code alone
   * (strerror() is translated). */
  GIOErrorEnum code = saved_errno == EDQUOT ? G_IO_ERROR_NO_SPACE : g_io_error_from_errno (saved_errno);

  g_set_error (error, G_IO_ERROR, code, "cannot sync %s: %s", path, g_strerror (saved_errno));
  return FALSE;
}

/* fsync()s @path, a file or folder, and with @out_st (may be NULL) stats
 * what was synced. */
static gboolean
sync_one (const gchar *path, struct stat *out_st, GError **error)
{
  int fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY, 0);
  int saved;

  if (fd >= 0 && fsync (fd) == 0 && (out_st == NULL || fstat (fd, out_st) == 0))
    return g_close (fd, error);
  saved = errno;
  if (fd >= 0)
    g_close (fd, NULL);
  return sync_failed (path, saved, error);
}

gboolean
vigil_fsync_path (const gchar *path, GError **error)
{
  g_return_val_if_fail (path != NULL, FALSE);
  return sync_one (path, NULL, error);
}

gboolean
vigil_fsync_file_and_folders (const gchar *path, const gchar *root, guint64 *out_size_bytes, GError **error)
{
  g_autofree gchar *folder = g_path_get_dirname (path);
  gsize root_length = root != NULL ? strlen (root) : 0;
  gboolean under_root;
  struct stat st;

  g_return_val_if_fail (path != NULL, FALSE);

  if (!sync_one (path, &st, error))
    return FALSE;
  if (!S_ISREG (st.st_mode))
    return sync_failed (path, EINVAL, error);
  if (out_size_bytes != NULL)
    *out_size_bytes = (guint64) st.st_size;

  /* "ROOT/a" is under "ROOT" but "ROOTx/a" is not. */
  under_root = root != NULL && g_str_has_prefix (folder, root)
               && (folder[root_length] == '/' || (root_length > 0 && root[root_length - 1] == '/'));
  if (!under_root)
    return sync_one (folder, NULL, error);
  while (strlen (folder) > root_length && g_str_has_prefix (folder, root))
    {
      gchar *parent;

      if (!sync_one (folder, NULL, error))
        return FALSE;
      parent = g_path_get_dirname (folder);
      g_free (folder);
      folder = parent;
    }
  return TRUE;
}
