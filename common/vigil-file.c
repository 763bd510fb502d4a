/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Bounded, non-blocking reads of small files; see vigil-file.h. */
#include "vigil-file.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>

static gchar *
fail_errno (int saved, GError **error)
{
  if (saved == ENOENT)
    g_set_error_literal (error, G_FILE_ERROR, G_FILE_ERROR_NOENT, "missing");
  else
    g_set_error_literal (error, G_FILE_ERROR, g_file_error_from_errno (saved), g_strerror (saved));
  return NULL;
}

gchar *
vigil_file_read (const gchar *path, gsize max_bytes, VigilFileFlags flags, gsize *out_size, GError **error)
{
  g_autoptr(GByteArray) contents = NULL;
  guint8 chunk[16384];
  struct stat st;
  int open_flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  int fd;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (max_bytes < G_MAXUINT, NULL);

  if (flags & VIGIL_FILE_NOFOLLOW)
    open_flags |= O_NOFOLLOW;
  fd = g_open (path, open_flags, 0);
  if (fd < 0)
    {
      int saved = errno;
      if (saved == ELOOP && (flags & VIGIL_FILE_NOFOLLOW))
        {
          g_set_error_literal (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "is a symbolic link, not a file");
          return NULL;
        }
      return fail_errno (saved, error);
    }
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    {
      close (fd);
      g_set_error_literal (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "is not a regular file");
      return NULL;
    }
  if ((flags & VIGIL_FILE_PRIVATE) && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
    {
      close (fd);
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_PERM, "is readable by others (mode %04o); make it 0600",
                   (guint) (st.st_mode & 07777));
      return NULL;
    }
  contents = g_byte_array_new ();
  for (;;)
    {
      gssize n = read (fd, chunk, sizeof chunk);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;
          close (fd);
          return fail_errno (saved, error);
        }
      if (n == 0)
        break;
      if (contents->len + (gsize) n > max_bytes)
        {
          close (fd);
          g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "is larger than %" G_GSIZE_FORMAT " bytes",
                       max_bytes);
          return NULL;
        }
      g_byte_array_append (contents, chunk, (guint) n);
    }
  close (fd);
  if (out_size != NULL)
    *out_size = contents->len;
  g_byte_array_append (contents, (const guint8 *) "", 1);
  return (gchar *) g_byte_array_free (g_steal_pointer (&contents), FALSE);
}
