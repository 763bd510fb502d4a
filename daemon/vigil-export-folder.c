/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilExportFolder: mkdirat, openat, fstatat, fchownat, renameat2 and
 * unlinkat relative to two descriptors (the destination and the work
 * folder), and nothing else; see vigil-export-folder.h. */
#define _GNU_SOURCE   /* renameat2 */
#include "vigil-export-folder.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WORK_PREFIX ".vigil-export-"
/* Names taken by chance or planted by the caller: give up after this many. */
#define MAX_NAME_ATTEMPTS 64

typedef struct {
  gchar *name;
  dev_t  dev;
  ino_t  ino;
} Created;

struct _VigilExportFolder
{
  int        destination_fd;   /* borrowed */
  int        fd;               /* the work folder */
  gchar     *name;             /* its name in the destination */
  dev_t      dev;              /* the folder's identity: a name leads to it only if */
  ino_t      ino;              /*   fstatat (no follow) finds this device and inode */
  GArray    *created;          /* Created, in creation order */
  gboolean   published;
};

static void
created_clear (Created *created)
{
  g_free (created->name);
}

static gboolean
io_error (GError **error, int saved_errno, const gchar *format, ...) G_GNUC_PRINTF (3, 4);

static gboolean
io_error (GError **error, int saved_errno, const gchar *format, ...)
{
  g_autofree gchar *what = NULL;
  va_list args;

  va_start (args, format);
  what = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno), "%s: %s", what, g_strerror (saved_errno));
  return FALSE;
}

/* Whether @name in the folder open as @dir_fd is, itself, the file or
 * folder @dev/@ino (a link to it is not). */
static gboolean
name_leads_to (int dir_fd, const gchar *name, dev_t dev, ino_t ino)
{
  struct stat st;

  return fstatat (dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == dev && st.st_ino == ino;
}

static gboolean
folder_is_empty (int fd)
{
  int copy = fcntl (fd, F_DUPFD_CLOEXEC, 0);
  DIR *dir = copy >= 0 ? fdopendir (copy) : NULL;
  struct dirent *entry;
  gboolean empty = dir != NULL;

  if (dir == NULL && copy >= 0)
    close (copy);
  while (empty && (entry = readdir (dir)) != NULL)
    empty = g_str_equal (entry->d_name, ".") || g_str_equal (entry->d_name, "..");
  if (dir != NULL)
    closedir (dir);
  return empty;
}

VigilExportFolder *
vigil_export_folder_new (int destination_fd, GError **error)
{
  g_autoptr(VigilExportFolder) folder = g_new0 (VigilExportFolder, 1);
  struct stat st;

  g_return_val_if_fail (destination_fd >= 0, NULL);

  folder->destination_fd = destination_fd;
  folder->fd = -1;
  folder->created = g_array_new (FALSE, TRUE, sizeof (Created));
  g_array_set_clear_func (folder->created, (GDestroyNotify) created_clear);

  /* A random name: concurrent jobs never meet, and a name that exists
   * (anyone's, a leftover of a crash, or planted) is never used. Safety
   * does not rest on the name being unguessable: mkdirat fails on any
   * existing entry, and the folder is checked once open. */
  for (guint attempt = 0;; attempt++)
    {
      if (attempt == MAX_NAME_ATTEMPTS)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                               "cannot create a work folder in the destination: every name tried was taken");
          return NULL;
        }
      g_free (folder->name);
      folder->name = g_strdup_printf (WORK_PREFIX "%08x%08x", g_random_int (), g_random_int ());
      if (mkdirat (destination_fd, folder->name, 0700) == 0)
        break;
      if (errno != EEXIST)
        {
          io_error (error, errno, "cannot create a work folder in the destination");
          return NULL;
        }
    }

  /* Between mkdirat and here the caller may have replaced the name: the
   * folder opened must be a folder (O_NOFOLLOW: not through a link), root's
   * (vigild's) own, closed to others, and empty; one the caller made is
   * none of these, and another job's work folder is not empty. Whatever
   * stands there then is left alone: nothing says it is ours. */
  folder->fd = openat (destination_fd, folder->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (folder->fd < 0 || fstat (folder->fd, &st) != 0 || !S_ISDIR (st.st_mode) || st.st_uid != geteuid ()
      || (st.st_mode & 077) != 0 || !folder_is_empty (folder->fd))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   "the work folder %s was replaced in the destination before vigild could open it", folder->name);
      return NULL;
    }
  folder->dev = st.st_dev;
  folder->ino = st.st_ino;
  return g_steal_pointer (&folder);
}

void
vigil_export_folder_free (VigilExportFolder *folder)
{
  if (folder == NULL)
    return;
  if (folder->fd >= 0)
    close (folder->fd);
  g_free (folder->name);
  g_clear_pointer (&folder->created, g_array_unref);
  g_free (folder);
}

const gchar *
vigil_export_folder_get_name (VigilExportFolder *folder)
{
  g_return_val_if_fail (folder != NULL, NULL);
  return folder->name;
}

int
vigil_export_folder_create_file (VigilExportFolder *folder, const gchar *name, GError **error)
{
  Created created;
  struct stat st;
  int fd;

  g_return_val_if_fail (folder != NULL && !folder->published, -1);
  g_return_val_if_fail (name != NULL, -1);

  if (*name == '\0' || strchr (name, '/') != NULL || g_str_equal (name, ".") || g_str_equal (name, ".."))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_FILENAME, "“%s” is not a file name", name);
      return -1;
    }
  /* The folder is root's and 0700 until published, so nothing can be in
   * the way; O_EXCL|O_NOFOLLOW make sure of it anyway. */
  fd = openat (folder->fd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      io_error (error, errno, "cannot create %s", name);
      return -1;
    }
  if (fstat (fd, &st) != 0)
    {
      io_error (error, errno, "cannot create %s", name);
      close (fd);
      return -1;
    }
  /* Remembered before anything can fail, so that a discard removes it. */
  created = (Created) { g_strdup (name), st.st_dev, st.st_ino };
  g_array_append_val (folder->created, created);
  return fd;
}

gboolean
vigil_export_folder_write_file (VigilExportFolder *folder, const gchar *name, const void *data, gsize size,
                                GError **error)
{
  const guint8 *p = data;
  int fd = vigil_export_folder_create_file (folder, name, error);

  if (fd < 0)
    return FALSE;
  while (size > 0)
    {
      ssize_t n = write (fd, p, size);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          io_error (error, errno, "cannot write %s", name);
          close (fd);
          return FALSE;
        }
      p += n;
      size -= (gsize) n;
    }
  /* Synced before the rename that publishes the bundle, which must never
   * expose a file whose data is not on disk yet. */
  if (fsync (fd) != 0)
    {
      io_error (error, errno, "cannot sync %s", name);
      close (fd);
      return FALSE;
    }
  if (close (fd) != 0)
    return io_error (error, errno, "cannot write %s", name);
  return TRUE;
}

/* Hands the bundle to the operator who asked for it: they must be able to
 * copy and delete it. Files first, by the names this folder created,
 * while the folder is still root's own and nobody else can have touched
 * them; the folder last. Not a failure when the file system keeps no
 * owners (a FAT USB stick): the operator can use the files there anyway. */
static void
give_to (VigilExportFolder *folder, uid_t uid)
{
  for (guint i = 0; i < folder->created->len; i++)
    {
      const Created *created = &g_array_index (folder->created, Created, i);

      if (fchownat (folder->fd, created->name, uid, (gid_t) -1, AT_SYMLINK_NOFOLLOW) != 0)
        g_debug ("export: cannot give %s to uid %u: %s", created->name, uid, g_strerror (errno));
    }
  if (fchmod (folder->fd, 0750) != 0 || fchown (folder->fd, uid, (gid_t) -1) != 0)
    g_debug ("export: cannot give %s to uid %u: %s", folder->name, uid, g_strerror (errno));
}

gboolean
vigil_export_folder_publish (VigilExportFolder *folder, const gchar *final_name, gint64 uid, GError **error)
{
  g_return_val_if_fail (folder != NULL && !folder->published, FALSE);
  g_return_val_if_fail (final_name != NULL && strchr (final_name, '/') == NULL, FALSE);

  if (geteuid () == 0 && uid > 0 && uid <= G_MAXUINT32)
    give_to (folder, (uid_t) uid);
  if (fsync (folder->fd) != 0)
    return io_error (error, errno, "cannot sync the work folder %s", folder->name);

  /* What is renamed is whatever the name leads to at that instant: if the
   * caller swaps it between this check and the rename, the rename moves
   * their entry within their own folder, which the check after it
   * catches. Nothing outside the destination is touched either way. */
  if (!name_leads_to (folder->destination_fd, folder->name, folder->dev, folder->ino))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   "the work folder %s was moved or replaced in the destination during the export", folder->name);
      return FALSE;
    }
  if (renameat2 (folder->destination_fd, folder->name, folder->destination_fd, final_name, RENAME_NOREPLACE) != 0)
    {
      int saved = errno;
      struct stat st;

      if (saved != EINVAL && saved != ENOSYS)
        return io_error (error, saved, "cannot rename %s to %s", folder->name, final_name);
      /* A file system without RENAME_NOREPLACE, or a kernel without
       * renameat2: a plain rename when nothing is there. Something
       * appearing in between (the caller's own doing) is replaced only if
       * it is an empty folder. */
      if (fstatat (folder->destination_fd, final_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return io_error (error, EEXIST, "cannot rename %s to %s", folder->name, final_name);
      if (renameat (folder->destination_fd, folder->name, folder->destination_fd, final_name) != 0)
        return io_error (error, errno, "cannot rename %s to %s", folder->name, final_name);
    }
  if (!name_leads_to (folder->destination_fd, final_name, folder->dev, folder->ino))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   "the work folder %s was replaced in the destination as it was published", folder->name);
      return FALSE;
    }
  folder->published = TRUE;
  g_free (folder->name);
  folder->name = g_strdup (final_name);
  if (fsync (folder->destination_fd) != 0)
    return io_error (error, errno, "cannot sync the destination after publishing %s", final_name);
  return TRUE;
}

void
vigil_export_folder_discard (VigilExportFolder *folder)
{
  g_return_if_fail (folder != NULL);

  if (folder->published)
    return;
  /* unlinkat never follows a link; the identity check keeps it to the
   * very files this folder made, even once the caller owns the folder. */
  for (guint i = folder->created->len; i-- > 0;)
    {
      const Created *created = &g_array_index (folder->created, Created, i);

      if (name_leads_to (folder->fd, created->name, created->dev, created->ino)
          && unlinkat (folder->fd, created->name, 0) != 0)
        g_debug ("export: cannot remove %s: %s", created->name, g_strerror (errno));
    }
  g_array_set_size (folder->created, 0);
  if (name_leads_to (folder->destination_fd, folder->name, folder->dev, folder->ino)
      && unlinkat (folder->destination_fd, folder->name, AT_REMOVEDIR) != 0)
    g_debug ("export: cannot remove the work folder %s: %s", folder->name, g_strerror (errno));
}
