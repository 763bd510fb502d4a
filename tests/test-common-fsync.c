/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vigil-fsync: a new segment is durable only once the file and every
 * folder made for it are synced, and a sync that fails is an error that
 * names what failed. This test defines fsync() itself: the static common
 * library linked into it calls this one, which records the path of every
 * synced descriptor and fails the ones the test picks (with EIO unless the
 * test says otherwise), then calls the real fsync(). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <unistd.h>

#include "vigil-fsync.h"
#include "vigil-test-util.h"

static GPtrArray *synced;      /* paths fsync() was called on, in order */
static gchar     *fail_path;   /* fsync() of this path fails with fail_errno */
static int        fail_errno = EIO;

int
fsync (int fd)
{
  int (*real) (int) = (int (*) (int)) dlsym (RTLD_NEXT, "fsync");
  g_autofree gchar *link = g_strdup_printf ("/proc/self/fd/%d", fd);
  g_autofree gchar *path = g_file_read_link (link, NULL);

  if (path != NULL && synced != NULL)
    g_ptr_array_add (synced, g_strdup (path));
  if (path != NULL && g_strcmp0 (path, fail_path) == 0)
    {
      errno = fail_errno;
      return -1;
    }
  return real (fd);
}

typedef struct {
  gchar *root;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer unused)
{
  /* Resolved, as /proc/self/fd shows it (TMPDIR may be a link). */
  g_autofree gchar *dir = vigil_test_make_tmp_dir ();
  f->root = realpath (dir, NULL);
  synced = g_ptr_array_new_with_free_func (g_free);
}

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  g_clear_pointer (&synced, g_ptr_array_unref);
  g_clear_pointer (&fail_path, g_free);
  fail_errno = EIO;
  vigil_test_remove_tree (g_steal_pointer (&f->root));
}

/* Writes @size bytes at ROOT/@relative, making its folders. */
static gchar *
make_file (Fixture *f, const gchar *relative, gsize size)
{
  g_autofree gchar *path = g_build_filename (f->root, relative, NULL);
  g_autofree gchar *folder = g_path_get_dirname (path);
  g_autofree gchar *data = g_malloc0 (size);
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (g_mkdir_with_parents (folder, 0750), ==, 0);
  g_file_set_contents (path, data, (gssize) size, &error);
  g_assert_no_error (error);
  return g_steal_pointer (&path);
}

static gchar *
under (Fixture *f, const gchar *relative)
{
  return g_build_filename (f->root, relative, NULL);
}

static void
assert_synced (Fixture *f, const gchar *const *expected)
{
  guint n = g_strv_length ((gchar **) expected);

  for (guint i = 0; i < MIN (n, synced->len); i++)
    {
      g_autofree gchar *path = under (f, expected[i]);
      g_assert_cmpstr (synced->pdata[i], ==, path);
    }
  g_assert_cmpuint (synced->len, ==, n);
}

static void
test_segment_of_a_new_day_syncs_its_new_folders (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *file = make_file (f, "cam0/2026/12/07/seg.mkv", 4321);
  g_autoptr(GError) error = NULL;
  guint64 size = 0;
  const gchar *const expected[] = {
    "cam0/2026/12/07/seg.mkv", "cam0/2026/12/07", "cam0/2026/12", "cam0/2026", "cam0", NULL
  };

  g_assert_true (vigil_fsync_file_and_folders (file, f->root, &size, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (size, ==, 4321);
  /* The file first, then up to (not including) the root. */
  assert_synced (f, expected);
}

static void
test_file_without_root_syncs_its_own_folder (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *file = make_file (f, "bundle/cam0.mp4", 10);
  g_autofree gchar *other_root = g_strconcat (f->root, "/bun", NULL);   /* a prefix, not a parent */
  g_autoptr(GError) error = NULL;
  const gchar *const expected[] = { "bundle/cam0.mp4", "bundle", "bundle/cam0.mp4", "bundle", NULL };

  g_assert_true (vigil_fsync_file_and_folders (file, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (vigil_fsync_file_and_folders (file, other_root, NULL, &error));
  g_assert_no_error (error);
  assert_synced (f, expected);
}

static void
test_failed_folder_sync_is_an_error_naming_it (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *file = make_file (f, "cam0/2026/12/07/seg.mkv", 1);
  g_autoptr(GError) error = NULL;

  fail_path = under (f, "cam0/2026/12");
  g_assert_false (vigil_fsync_file_and_folders (file, f->root, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, fail_path));
  /* It stops at the first failure: the folders above are not claimed durable. */
  g_assert_cmpuint (synced->len, ==, 3);   /* the file, 07, 12 */
}

static void
test_failed_file_sync_is_an_error_naming_it (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *file = make_file (f, "cam0/seg.mkv", 1);
  g_autoptr(GError) error = NULL;

  fail_path = g_strdup (file);
  g_assert_false (vigil_fsync_file_and_folders (file, f->root, NULL, &error));
  g_assert_nonnull (strstr (error->message, file));
  g_assert_cmpuint (synced->len, ==, 1);
  g_clear_error (&error);
  g_assert_false (vigil_fsync_path (file, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, file));
}

/* A full disk and a spent quota are the same to vigil: the code says it,
 * whatever the language of the message. */
static void
test_full_disk_or_quota_is_no_space (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *file = make_file (f, "cam0/seg.mkv", 1);
  const int errnos[] = { ENOSPC, EDQUOT };

  fail_path = g_strdup (file);
  for (guint i = 0; i < G_N_ELEMENTS (errnos); i++)
    {
      g_autoptr(GError) error = NULL;

      fail_errno = errnos[i];
      g_assert_false (vigil_fsync_file_and_folders (file, f->root, NULL, &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
    }
}

static void
test_missing_or_not_a_file_is_refused (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *missing = under (f, "cam0/gone.mkv");
  g_autofree gchar *folder = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_false (vigil_fsync_file_and_folders (missing, f->root, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, missing));
  g_clear_error (&error);

  g_free (make_file (f, "cam0/x", 1));
  folder = under (f, "cam0");
  g_assert_false (vigil_fsync_file_and_folders (folder, f->root, NULL, &error));
  g_assert_nonnull (strstr (error->message, folder));
  g_clear_error (&error);
  /* A folder itself may be synced by path (after a rename or unlink in it). */
  g_assert_true (vigil_fsync_path (folder, &error));
  g_assert_no_error (error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/common/fsync/new-day-segment-syncs-new-folders", test_segment_of_a_new_day_syncs_its_new_folders);
  ADD ("/common/fsync/without-root-syncs-own-folder", test_file_without_root_syncs_its_own_folder);
  ADD ("/common/fsync/failed-folder-sync-names-it", test_failed_folder_sync_is_an_error_naming_it);
  ADD ("/common/fsync/failed-file-sync-names-it", test_failed_file_sync_is_an_error_naming_it);
  ADD ("/common/fsync/full-disk-or-quota-is-no-space", test_full_disk_or_quota_is_no_space);
  ADD ("/common/fsync/missing-or-folder-refused", test_missing_or_not_a_file_is_refused);
  return g_test_run ();
}
