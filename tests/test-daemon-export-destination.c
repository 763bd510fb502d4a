/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vigil_export_check_destination() on real folders, owners, modes, ACLs
 * and mounts: a caller's folder is judged by the descriptor they opened,
 * as the kernel would judge a process of theirs creating a file in it;
 * system folders and vigil's own storage are recognised by device and
 * inode, even through a link or a bind mount; every refusal is one of two
 * fixed messages. Most of it needs root (chown, mount) and is skipped
 * without. */
#define _GNU_SOURCE   /* O_PATH */
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "vigil-error.h"
#include "vigil-export-destination.h"
#include "vigil-test-util.h"

#define NOBODY 65534
#define NOT_YOURS "cannot use the destination: not an existing folder that you can write to"
#define NOT_THERE "cannot use the destination: vigild does not write into system folders or its own storage"

typedef struct {
  gchar *dir;
  gchar *storage;     /* stands for vigil's storage root */
  gchar *mounted;     /* a mount point the test made, unmounted at tear-down; NULL for none */
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer unused)
{
  f->dir = vigil_test_make_tmp_dir ();
  g_assert_cmpint (g_chmod (f->dir, 0755), ==, 0);
  f->storage = g_build_filename (f->dir, "storage", NULL);
  g_assert_cmpint (g_mkdir (f->storage, 0700), ==, 0);
}

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  /* Before anything is removed: a bind mount of /etc must never be walked. */
  if (f->mounted != NULL)
    g_assert_cmpint (umount2 (f->mounted, MNT_DETACH), ==, 0);
  g_clear_pointer (&f->mounted, g_free);
  g_clear_pointer (&f->storage, g_free);
  vigil_test_remove_tree (g_steal_pointer (&f->dir));
}

static gboolean
skip_unless_root (void)
{
  if (geteuid () == 0 && getpwuid (NOBODY) != NULL)
    return FALSE;
  g_test_skip ("needs root and a user 65534");
  return TRUE;
}

/* A folder @name under the fixture's, with this owner and mode. */
static gchar *
make_folder (Fixture *f, const gchar *name, uid_t uid, gid_t gid, mode_t mode)
{
  gchar *path = g_build_filename (f->dir, name, NULL);

  g_assert_cmpint (g_mkdir (path, 0700), ==, 0);
  g_assert_cmpint (chown (path, uid, gid), ==, 0);
  g_assert_cmpint (chmod (path, mode), ==, 0);
  return path;
}

/* The check for @uid on @path opened as vigilctl opens it (or with
 * @flags), with the fixture's storage as vigil's own; the refusal's
 * message, or NULL when accepted. */
static gchar *
check_flags (Fixture *f, const gchar *path, int flags, gint64 uid)
{
  const gchar *private_folders[] = { f->storage, NULL };
  g_autoptr(GError) error = NULL;
  int fd = g_open (path, flags | O_CLOEXEC, 0);
  gboolean ok;

  g_assert_cmpint (fd, >=, 0);
  ok = vigil_export_check_destination (fd, uid, private_folders, &error);
  g_close (fd, NULL);
  g_assert_true (ok == (error == NULL));
  if (ok)
    return NULL;
  g_assert_error (error, VIGIL_ERROR, VIGIL_ERROR_NOT_WRITABLE);
  return g_strdup (error->message);
}

static gchar *
check (Fixture *f, const gchar *path, gint64 uid)
{
  return check_flags (f, path, O_RDONLY | O_DIRECTORY, uid);
}

#define ASSERT_ACCEPTED(f, path, uid) G_STMT_START { \
    g_autofree gchar *m_ = check (f, path, uid); g_assert_cmpstr (m_, ==, NULL); } G_STMT_END
#define ASSERT_REFUSED(f, path, uid, message) G_STMT_START { \
    g_autofree gchar *m_ = check (f, path, uid); g_assert_cmpstr (m_, ==, message); } G_STMT_END

/* Owner, then group (primary or supplementary, from the user database),
 * then other bits; write and search both needed; root may write anywhere. */
static void
test_caller_rights (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *own = NULL, *own_no_search = NULL, *own_but_others = NULL, *roots = NULL, *group = NULL;
  g_autofree gchar *shared = NULL, *sticky = NULL;

  if (skip_unless_root ())
    return;
  own = make_folder (f, "own", NOBODY, NOBODY, 0700);
  own_no_search = make_folder (f, "own-no-search", NOBODY, NOBODY, 0600);
  own_but_others = make_folder (f, "own-but-others", NOBODY, 0, 0077);
  roots = make_folder (f, "roots", 0, 0, 0755);
  group = make_folder (f, "group", 0, NOBODY, 0770);
  shared = make_folder (f, "shared", 0, 0, 0777);
  sticky = make_folder (f, "sticky", 0, 0, 01777);

  ASSERT_ACCEPTED (f, own, NOBODY);
  ASSERT_REFUSED (f, own, NOBODY - 1, NOT_YOURS);
  ASSERT_REFUSED (f, own_no_search, NOBODY, NOT_YOURS);
  /* The owner gets the owner bits only, as from the kernel. */
  ASSERT_REFUSED (f, own_but_others, NOBODY, NOT_YOURS);
  ASSERT_REFUSED (f, roots, NOBODY, NOT_YOURS);
  ASSERT_ACCEPTED (f, roots, 0);
  /* 65534's primary group in the user database is 65534. */
  ASSERT_ACCEPTED (f, group, NOBODY);
  ASSERT_REFUSED (f, group, NOBODY - 1, NOT_YOURS);
  ASSERT_ACCEPTED (f, shared, NOBODY);
  ASSERT_ACCEPTED (f, sticky, NOBODY);
}

/* A POSIX ACL entry as the kernel stores it (linux/posix_acl_xattr.h). */
typedef struct {
  guint16 tag, perm;
  guint32 id;
} AclEntry;

static gboolean
set_acl (const gchar *path, const AclEntry *entries, guint n)
{
  g_autoptr(GByteArray) blob = g_byte_array_new ();
  guint32 version = GUINT32_TO_LE (2);

  g_byte_array_append (blob, (const guint8 *) &version, 4);
  for (guint i = 0; i < n; i++)
    {
      AclEntry le = { GUINT16_TO_LE (entries[i].tag), GUINT16_TO_LE (entries[i].perm), GUINT32_TO_LE (entries[i].id) };
      g_byte_array_append (blob, (const guint8 *) &le, sizeof le);
    }
  return setxattr (path, "system.posix_acl_access", blob->data, blob->len, 0) == 0;
}

/* ACLs are not evaluated: where one could deny what the mode bits allow,
 * the folder is refused; its owner, whose rights the ACL cannot change
 * from the owner bits, is not. */
static void
test_acl_fails_closed (Fixture *f, gconstpointer unused)
{
  enum { USER_OBJ = 0x01, USER = 0x02, GROUP_OBJ = 0x04, MASK = 0x10, OTHER = 0x20 };
  /* rwx for everyone by the bits, but user 65534 may only read and enter. */
  const AclEntry denying[] = {
    { USER_OBJ, 7, G_MAXUINT32 }, { USER, 5, NOBODY }, { GROUP_OBJ, 7, G_MAXUINT32 }, { MASK, 7, G_MAXUINT32 },
    { OTHER, 7, G_MAXUINT32 },
  };
  const AclEntry other_user[] = {
    { USER_OBJ, 7, G_MAXUINT32 }, { USER, 7, NOBODY - 1 }, { GROUP_OBJ, 0, G_MAXUINT32 }, { MASK, 7, G_MAXUINT32 },
    { OTHER, 0, G_MAXUINT32 },
  };
  g_autofree gchar *denied = NULL, *owned = NULL;

  if (skip_unless_root ())
    return;
  denied = make_folder (f, "denied", 0, 0, 0777);
  owned = make_folder (f, "owned", NOBODY, NOBODY, 0700);
  if (!set_acl (denied, denying, G_N_ELEMENTS (denying)) || !set_acl (owned, other_user, G_N_ELEMENTS (other_user)))
    {
      g_autofree gchar *why = g_strdup_printf ("no POSIX ACLs here: %s", g_strerror (errno));
      g_test_skip (why);
      return;
    }
  ASSERT_REFUSED (f, denied, NOBODY, NOT_YOURS);
  ASSERT_ACCEPTED (f, owned, NOBODY);
  ASSERT_ACCEPTED (f, denied, 0);
}

/* What is not an open folder, and a caller vigild does not know. */
static void
test_not_a_folder (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *file = g_build_filename (f->dir, "file", NULL);
  g_autofree gchar *folder = g_build_filename (f->dir, "folder", NULL);
  g_autoptr(GError) error = NULL;
  g_autofree gchar *message = NULL;

  g_assert_true (g_file_set_contents (file, "x", 1, NULL));
  g_assert_cmpint (g_mkdir (folder, 0777), ==, 0);
  message = check_flags (f, file, O_RDONLY, getuid ());
  g_assert_cmpstr (message, ==, NOT_YOURS);
  g_clear_pointer (&message, g_free);
  /* O_PATH: opened without the kernel checking the right to read it. */
  message = check_flags (f, folder, O_PATH | O_DIRECTORY, getuid ());
  g_assert_cmpstr (message, ==, NOT_YOURS);
  g_clear_pointer (&message, g_free);
  message = check_flags (f, folder, O_RDONLY | O_DIRECTORY, -1);
  g_assert_cmpstr (message, ==, NOT_YOURS);
  g_clear_pointer (&message, g_free);
  g_assert_false (vigil_export_check_destination (-1, getuid (), NULL, &error));
  g_assert_error (error, VIGIL_ERROR, VIGIL_ERROR_NOT_WRITABLE);
  ASSERT_ACCEPTED (f, folder, getuid ());
}

/* /, system folders and what lies inside them, vigil's storage, inside
 * it and holding it: by identity, whatever the path that led there. */
static void
test_system_and_own_folders (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *link = g_build_filename (f->dir, "etc-link", NULL);
  g_autofree gchar *inside_storage = g_build_filename (f->storage, "cam0", NULL);
  g_autofree gchar *beside = g_build_filename (f->dir, "beside", NULL);
  g_autofree gchar *bound = g_build_filename (f->dir, "bound", NULL);

  g_assert_cmpint (symlink ("/etc", link), ==, 0);
  g_assert_cmpint (g_mkdir (inside_storage, 0700), ==, 0);
  g_assert_cmpint (g_mkdir (beside, 0700), ==, 0);

  ASSERT_REFUSED (f, "/", 0, NOT_THERE);
  ASSERT_REFUSED (f, "/etc", 0, NOT_THERE);
  ASSERT_REFUSED (f, link, 0, NOT_THERE);
  ASSERT_REFUSED (f, "/usr/share", 0, NOT_THERE);
  ASSERT_REFUSED (f, f->storage, getuid (), NOT_THERE);
  ASSERT_REFUSED (f, inside_storage, getuid (), NOT_THERE);
  /* The fixture's folder holds the storage. */
  ASSERT_REFUSED (f, f->dir, getuid (), NOT_THERE);
  ASSERT_ACCEPTED (f, beside, getuid ());

  /* /etc mounted elsewhere (read-only, so that nothing can harm it) is
   * still /etc: its device and inode are. */
  if (geteuid () != 0)
    return;
  g_assert_cmpint (g_mkdir (bound, 0700), ==, 0);
  /* "none" where the kernel ignores the argument: valgrind checks it. */
  if (mount ("/etc", bound, "none", MS_BIND, NULL) != 0)
    {
      g_test_message ("no bind mount here (%s): that part is not checked", g_strerror (errno));
      return;
    }
  f->mounted = g_strdup (bound);
  g_assert_cmpint (mount ("none", bound, "none", MS_REMOUNT | MS_BIND | MS_RDONLY, NULL), ==, 0);
  ASSERT_REFUSED (f, bound, 0, NOT_THERE);
}

/* A read-only mount is no place to write, even for root. */
static void
test_read_only_mount (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *point = g_build_filename (f->dir, "ro", NULL);

  if (geteuid () != 0)
    {
      g_test_skip ("needs root to mount");
      return;
    }
  g_assert_cmpint (g_mkdir (point, 0700), ==, 0);
  if (mount ("tmpfs", point, "tmpfs", MS_RDONLY, "size=1m") != 0)
    {
      g_autofree gchar *why = g_strdup_printf ("cannot mount a tmpfs here: %s", g_strerror (errno));
      g_test_skip (why);
      return;
    }
  f->mounted = g_strdup (point);
  ASSERT_REFUSED (f, point, 0, NOT_YOURS);
}

/* vigild not running as root (as a vigil user, later) must be able to
 * write there itself, whatever the caller may: the kernel's answer on the
 * descriptor. A child becomes user 65534 and is asked for a folder that
 * only user 65533 may write into, on behalf of user 65533. */
static void
test_vigild_rights (void)
{
  const gchar *folder = g_getenv ("VIGIL_TEST_FOLDER");
  g_autoptr(GError) error = NULL;

  if (g_test_subprocess ())
    {
      int fd = g_open (folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);

      g_assert_cmpint (fd, >=, 0);
      g_assert_cmpint (setgroups (0, NULL), ==, 0);
      g_assert_cmpint (setresgid (NOBODY, NOBODY, NOBODY), ==, 0);
      g_assert_cmpint (setresuid (NOBODY, NOBODY, NOBODY), ==, 0);
      g_assert_false (vigil_export_check_destination (fd, NOBODY - 1, NULL, &error));
      g_assert_error (error, VIGIL_ERROR, VIGIL_ERROR_NOT_WRITABLE);
      g_assert_cmpstr (error->message, ==, "cannot use the destination: vigild cannot write there");
      g_close (fd, NULL);
      return;
    }
  if (geteuid () != 0 || getpwuid (NOBODY) == NULL)
    {
      g_test_skip ("needs root and a user 65534");
      return;
    }
  {
    g_autofree gchar *dir = vigil_test_make_tmp_dir ();
    g_autofree gchar *theirs = g_build_filename (dir, "theirs", NULL);

    g_assert_cmpint (g_chmod (dir, 0755), ==, 0);
    g_assert_cmpint (g_mkdir (theirs, 0700), ==, 0);
    g_assert_cmpint (chown (theirs, NOBODY - 1, NOBODY - 1), ==, 0);
    g_setenv ("VIGIL_TEST_FOLDER", theirs, TRUE);
    g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDOUT | G_TEST_SUBPROCESS_INHERIT_STDERR);
    g_unsetenv ("VIGIL_TEST_FOLDER");
    vigil_test_remove_tree (g_steal_pointer (&dir));
    g_test_trap_assert_passed ();
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("/daemon/export-destination/caller-rights", test_caller_rights);
  ADD ("/daemon/export-destination/acl-fails-closed", test_acl_fails_closed);
  ADD ("/daemon/export-destination/not-a-folder", test_not_a_folder);
  ADD ("/daemon/export-destination/system-and-own-folders", test_system_and_own_folders);
  ADD ("/daemon/export-destination/read-only-mount", test_read_only_mount);
#undef ADD
  g_test_add_func ("/daemon/export-destination/vigild-rights", test_vigild_rights);
  return g_test_run ();
}
