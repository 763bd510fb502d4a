/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The space reserve; see vigil-reserve.h. */
#include "vigil-reserve.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>

guint64
vigil_reserve_size_for (guint64 total_bytes)
{
  guint64 size = CLAMP (total_bytes / 100, VIGIL_RESERVE_MIN_BYTES, VIGIL_RESERVE_MAX_BYTES);

  return MIN (size, total_bytes / 16);
}

static gchar *
reserve_path (const gchar *root)
{
  return g_build_filename (root, VIGIL_RESERVE_NAME, NULL);
}

static gboolean
io_failed (GError **error, int saved_errno, const gchar *what, const gchar *path)
{
  GIOErrorEnum code = saved_errno == EDQUOT ? G_IO_ERROR_NO_SPACE : g_io_error_from_errno (saved_errno);

  g_set_error (error, G_IO_ERROR, code, "space reserve %s: cannot %s: %s", path, what, g_strerror (saved_errno));
  return FALSE;
}

guint64
vigil_reserve_get_size (const gchar *root)
{
  g_autofree gchar *path = reserve_path (root);
  struct stat st;

  /* Blocks, not length: a reserve cut short by a crash is a sparse file. */
  if (lstat (path, &st) != 0 || !S_ISREG (st.st_mode))
    return 0;
  return MIN ((guint64) st.st_blocks * 512, (guint64) st.st_size);
}

gboolean
vigil_reserve_set (const gchar *root, guint64 size_bytes, GError **error)
{
  g_autofree gchar *path = reserve_path (root);
  struct stat st;
  int fd, rc;

  fd = g_open (path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
  if (fd < 0)
    return io_failed (error, errno, "open", path);
  if (fstat (fd, &st) != 0)
    {
      int saved = errno;
      g_close (fd, NULL);
      return io_failed (error, saved, "stat", path);
    }
  /* A reserve sized for a smaller file system gives the difference back. */
  if ((guint64) st.st_size > size_bytes && ftruncate (fd, (off_t) size_bytes) != 0)
    {
      int saved = errno;
      g_close (fd, NULL);
      return io_failed (error, saved, "shrink", path);
    }
  /* posix_fallocate() allocates without writing where the file system
   * can (ext4, XFS, btrfs, tmpfs) and writes a byte per block where it
   * cannot; either way every block is the reserve's when it returns. */
  rc = posix_fallocate (fd, 0, (off_t) size_bytes);
  g_close (fd, NULL);
  if (rc != 0)
    {
      /* Blocks it got before running out are given back too: a reserve
       * is whole or absent. */
      g_unlink (path);
      return io_failed (error, rc, "allocate", path);
    }
  return TRUE;
}

gboolean
vigil_reserve_remove (const gchar *root, guint64 *out_released_bytes, GError **error)
{
  g_autofree gchar *path = reserve_path (root);
  guint64 size = vigil_reserve_get_size (root);

  if (out_released_bytes != NULL)
    *out_released_bytes = 0;
  /* Unlinked, its blocks are free at once: nothing holds it open. No
   * folder sync: a reserve a crash brings back is merely released again. */
  if (g_unlink (path) != 0)
    return errno == ENOENT ? TRUE : io_failed (error, errno, "remove", path);
  if (out_released_bytes != NULL)
    *out_released_bytes = size;
  return TRUE;
}
