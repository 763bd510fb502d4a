/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Checking an export destination by its descriptor; see
 * vigil-export-destination.h. Everything here starts from the descriptor
 * the caller passed (fstat, fstatvfs, fgetxattr, openat of ".."); the only
 * paths opened are vigild's own (system folders, its configured storage). */
#define _GNU_SOURCE   /* O_PATH */
#include "vigil-export-destination.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "vigil-error.h"

/* Folders an export must never write into, even when the caller is root. */
static const gchar *const system_folders[] = {
  "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/root", "/run", "/sbin",
  "/sys", "/usr", "/var/lib", "/var/log", "/var/cache", "/var/spool", "/var/mail", "/var/backups",
};

/* Deeper than any real tree; a walk that goes on longer is refused. */
#define MAX_DEPTH 1024

/* One answer for a descriptor that is not a folder or not the caller's to
 * write, and one for a folder vigild keeps out of: neither names a path,
 * and both are about the folder the caller already holds. */
static gboolean
refuse (GError **error)
{
  g_set_error_literal (error, VIGIL_ERROR, VIGIL_ERROR_NOT_WRITABLE,
                       "cannot use the destination: not an existing folder that you can write to");
  return FALSE;
}

static gboolean
refuse_place (GError **error)
{
  g_set_error_literal (error, VIGIL_ERROR, VIGIL_ERROR_NOT_WRITABLE,
                       "cannot use the destination: vigild does not write into system folders or its own storage");
  return FALSE;
}

typedef struct {
  dev_t dev;
  ino_t ino;
} FolderId;

static gboolean
chain_has (GArray *chain, dev_t dev, ino_t ino)
{
  for (guint i = 0; i < chain->len; i++)
    {
      const FolderId *id = &g_array_index (chain, FolderId, i);
      if (id->dev == dev && id->ino == ino)
        return TRUE;
    }
  return FALSE;
}

/* The folder open as @fd and every folder above it, up to the root, by
 * ".." (which the kernel follows across mount points and never lets a
 * name in the tree redirect); NULL when the walk fails or runs too deep. */
static GArray *
ancestors (int fd)
{
  g_autoptr(GArray) chain = g_array_new (FALSE, FALSE, sizeof (FolderId));
  int current = fcntl (fd, F_DUPFD_CLOEXEC, 0);

  while (current >= 0 && chain->len < MAX_DEPTH)
    {
      struct stat st;
      FolderId id;
      int parent;

      if (fstat (current, &st) != 0)
        break;
      id = (FolderId) { st.st_dev, st.st_ino };
      if (chain_has (chain, id.dev, id.ino))
        {
          /* ".." of the root is the root: the walk is complete. */
          close (current);
          return g_steal_pointer (&chain);
        }
      g_array_append_val (chain, id);
      parent = openat (current, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
      close (current);
      current = parent;
    }
  if (current >= 0)
    close (current);
  return NULL;
}

/* Whether the user database puts @uid in group @gid (primary or
 * supplementary); FALSE when it cannot tell. */
static gboolean
user_in_group (uid_t uid, gid_t gid)
{
  struct passwd pw, *found = NULL;
  long size = sysconf (_SC_GETPW_R_SIZE_MAX);
  g_autofree gchar *buffer = NULL;
  g_autofree gid_t *groups = NULL;
  int n = 64;

  if (size <= 0)
    size = 16384;
  buffer = g_malloc ((gsize) size);
  if (getpwuid_r (uid, &pw, buffer, (size_t) size, &found) != 0 || found == NULL)
    return FALSE;
  if (pw.pw_gid == gid)
    return TRUE;
  for (guint attempt = 0; attempt < 8; attempt++)
    {
      int count = n;

      groups = g_renew (gid_t, groups, n);
      if (getgrouplist (pw.pw_name, pw.pw_gid, groups, &count) >= 0)
        {
          for (int i = 0; i < count; i++)
            if (groups[i] == gid)
              return TRUE;
          return FALSE;
        }
      n = MAX (count, n * 2);   /* count says how many there are */
    }
  return FALSE;
}

/* Whether the folder carries an access control list that its mode bits
 * do not show; TRUE also when that cannot be told. */
static gboolean
has_acl (int fd)
{
  static const gchar *const names[] = { "system.posix_acl_access", "system.nfs4_acl" };

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (fgetxattr (fd, names[i], NULL, 0) >= 0 || (errno != ENODATA && errno != ENOTSUP))
      return TRUE;
  return FALSE;
}

/* Whether a process of @uid could create an entry in the folder @st (open
 * as @fd): write and search, by the one class of bits the kernel applies. */
static gboolean
caller_may_write (int fd, const struct stat *st, uid_t uid)
{
  const mode_t mode = st->st_mode;

  if (uid == 0)
    return TRUE;
  if (st->st_uid == uid)
    return (mode & (S_IWUSR | S_IXUSR)) == (S_IWUSR | S_IXUSR);
  /* For anyone but the owner an ACL may grant or deny what the group and
   * other bits say; it is not evaluated, so it is a refusal. */
  if (has_acl (fd))
    return FALSE;
  if (user_in_group (uid, st->st_gid))
    return (mode & (S_IWGRP | S_IXGRP)) == (S_IWGRP | S_IXGRP);
  return (mode & (S_IWOTH | S_IXOTH)) == (S_IWOTH | S_IXOTH);
}

/* Whether the folder @dest is, or lies above, the folder at @path
 * (vigild's own, from its configuration): a destination that holds
 * vigil's storage is refused like one inside it. */
static gboolean
folder_lies_under (const gchar *path, const struct stat *dest)
{
  g_autoptr(GArray) chain = NULL;
  int fd = open (path, O_PATH | O_DIRECTORY | O_CLOEXEC);

  if (fd < 0)
    return FALSE;   /* not there (yet): nothing of it to protect */
  chain = ancestors (fd);
  close (fd);
  /* A walk that fails cannot show the destination is safe. */
  return chain == NULL || chain_has (chain, dest->st_dev, dest->st_ino);
}

gboolean
vigil_export_check_destination (int destination_fd, gint64 uid, const gchar *const *private_folders,
                                GError **error)
{
  g_autoptr(GArray) chain = NULL;
  struct stat st, root;
  struct statvfs fs;
  int flags;

  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (destination_fd < 0 || uid < 0 || uid > G_MAXUINT32)
    return refuse (error);
  /* O_PATH: the caller got it without the kernel checking read rights. */
  flags = fcntl (destination_fd, F_GETFL);
  if (flags < 0 || (flags & O_PATH) != 0)
    return refuse (error);
  if (fstat (destination_fd, &st) != 0 || !S_ISDIR (st.st_mode))
    return refuse (error);
  if (!caller_may_write (destination_fd, &st, (uid_t) uid))
    return refuse (error);
  /* vigild's own rights, when it is not root (root's are all but a
   * read-only mount's, below); before walking up, which a folder vigild
   * cannot enter would stop. "." is the folder itself, not a name anyone
   * could change. */
  if (geteuid () != 0 && faccessat (destination_fd, ".", W_OK | X_OK, AT_EACCESS) != 0)
    {
      g_set_error_literal (error, VIGIL_ERROR, VIGIL_ERROR_NOT_WRITABLE,
                           "cannot use the destination: vigild cannot write there");
      return FALSE;
    }

  chain = ancestors (destination_fd);
  if (chain == NULL)
    return refuse_place (error);
  if (stat ("/", &root) == 0 && root.st_dev == st.st_dev && root.st_ino == st.st_ino)
    return refuse_place (error);
  for (guint i = 0; i < G_N_ELEMENTS (system_folders); i++)
    {
      struct stat system;

      if (stat (system_folders[i], &system) == 0 && chain_has (chain, system.st_dev, system.st_ino))
        return refuse_place (error);
    }
  for (guint i = 0; private_folders != NULL && private_folders[i] != NULL; i++)
    {
      struct stat own;

      if (stat (private_folders[i], &own) == 0 && chain_has (chain, own.st_dev, own.st_ino))
        return refuse_place (error);
      if (folder_lies_under (private_folders[i], &st))
        return refuse_place (error);
    }
  if (fstatvfs (destination_fd, &fs) != 0 || (fs.f_flag & ST_RDONLY) != 0)
    return refuse (error);
  return TRUE;
}

gchar *
vigil_export_describe_folder (int fd)
{
  g_autofree gchar *link = g_strdup_printf ("/proc/self/fd/%d", fd);
  gchar *target = g_file_read_link (link, NULL);

  return target != NULL ? target : g_strdup ("(the destination folder)");
}
