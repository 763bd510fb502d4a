/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The space reserve fits the file system it is on, holds its blocks, and
 * is what lets retention delete on a full disk: on a real full tmpfs the
 * catalog refuses even the 'deleting' mark (VIGIL_STORE_ERROR_FULL), so
 * nothing could ever be freed; once the reserve is removed the same
 * deletion goes through in retention's order and the file's space is
 * back. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <sys/mount.h>

#include "vigil-reserve.h"
#include "vigil-retention.h"
#include "vigil-store.h"
#include "vigil-test-util.h"

#define MIB (G_GUINT64_CONSTANT (1) << 20)
#define S (G_USEC_PER_SEC)
#define T0 (G_GINT64_CONSTANT (1795000000) * S)

typedef struct {
  gchar *dir;
  gchar *disk;       /* a small tmpfs is mounted here by the tests that need one */
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer unused)
{
  f->dir = vigil_test_make_tmp_dir ();
  f->disk = g_build_filename (f->dir, "disk", NULL);
  g_assert_cmpint (g_mkdir (f->disk, 0700), ==, 0);
}

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  umount2 (f->disk, MNT_DETACH);
  g_free (f->disk);
  vigil_test_remove_tree (g_steal_pointer (&f->dir));
}

static void
test_reserve_size_fits_the_file_system (void)
{
  /* 1 %, within 1 MiB .. 64 MiB, never more than a sixteenth. */
  g_assert_cmpuint (vigil_reserve_size_for (24 * MIB), ==, 1 * MIB);
  g_assert_cmpuint (vigil_reserve_size_for (1024 * MIB), ==, 1024 * MIB / 100);
  g_assert_cmpuint (vigil_reserve_size_for (G_GUINT64_CONSTANT (20) * 1000 * 1000 * 1000 * 1000), ==, 64 * MIB);
  g_assert_cmpuint (vigil_reserve_size_for (4 * MIB), ==, 256 * 1024);
  g_assert_cmpuint (vigil_reserve_size_for (1 * MIB), ==, 64 * 1024);
}

static void
test_reserve_holds_its_blocks (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  guint64 released = 0;

  g_assert_cmpuint (vigil_reserve_get_size (f->disk), ==, 0);
  g_assert_true (vigil_reserve_set (f->disk, 1 * MIB, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (vigil_reserve_get_size (f->disk), ==, 1 * MIB);
  /* Setting it again, or smaller, leaves one file of that size. */
  g_assert_true (vigil_reserve_set (f->disk, 1 * MIB, &error));
  g_assert_true (vigil_reserve_set (f->disk, MIB / 2, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (vigil_reserve_get_size (f->disk), ==, MIB / 2);
  g_assert_true (vigil_reserve_remove (f->disk, &released, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (released, ==, MIB / 2);
  g_assert_cmpuint (vigil_reserve_get_size (f->disk), ==, 0);
  /* None left is not an error. */
  g_assert_true (vigil_reserve_remove (f->disk, &released, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (released, ==, 0);
}

/* Writes a segment file of @size bytes and catalogs it complete. */
static VigilSegment *
add_segment_file (VigilStore *store, gint64 run, guint i, gsize size)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *relative = g_strdup_printf ("cam0/%03u.mkv", i);
  g_autofree gchar *path = vigil_store_get_absolute_path (store, relative);
  g_autofree gchar *data = g_malloc0 (size);
  VigilSegment segment = {
    .camera = "cam0", .run_id = run, .path = relative, .start_us = T0 + i * 2 * S, .end_us = T0 + (i + 1) * 2 * S,
    .media_duration_ns = 2 * G_GINT64_CONSTANT (1000000000), .size_bytes = size, .frames = 50, .keyframes = 2,
    .codec = "h264", .state = VIGIL_SEGMENT_COMPLETE,
  };

  g_assert_true (g_file_set_contents (path, data, (gssize) size, &error));
  g_assert_no_error (error);
  segment.id = vigil_store_add_segment (store, "cam0", run, relative, segment.start_us, &error);
  g_assert_no_error (error);
  g_assert_true (vigil_store_finish_segment (store, &segment, &error));
  g_assert_no_error (error);
  return vigil_segment_copy (&segment);
}

static void
test_reserve_lets_the_catalog_delete_on_a_full_disk (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilStore) store = NULL;
  g_autoptr(GPtrArray) segments = g_ptr_array_new_with_free_func ((GDestroyNotify) vigil_segment_free);
  g_autofree gchar *root = NULL;
  g_autofree gchar *catalog = NULL;
  g_autofree gchar *filler = NULL;
  g_autofree gchar *oldest = NULL;
  g_autofree gchar *camera_folder = NULL;
  guint64 reserve, released = 0, free_before;
  gint64 run;
  guint refused_after = 0;

  if (!vigil_test_mount_tmpfs (f->disk, 4))
    {
      g_test_skip ("needs root to mount a small tmpfs (CI runs as root)");
      return;
    }
  /* Catalog and recordings on the one file system, as on most hosts. */
  root = g_build_filename (f->disk, "recordings", NULL);
  catalog = g_build_filename (f->disk, "catalog.db", NULL);
  g_assert_cmpint (g_mkdir (root, 0700), ==, 0);
  store = vigil_store_new (catalog, root, &error);
  g_assert_no_error (error);
  g_assert_true (vigil_store_add_camera (store, "cam0", &error));
  camera_folder = g_build_filename (root, "cam0", NULL);
  g_assert_cmpint (g_mkdir (camera_folder, 0700), ==, 0);
  run = vigil_store_start_run (store, "cam0", T0, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < 8; i++)
    g_ptr_array_add (segments, add_segment_file (store, run, i, 128 * 1024));

  reserve = vigil_reserve_size_for (4 * MIB);
  g_assert_true (vigil_reserve_set (root, reserve, &error));
  g_assert_no_error (error);
  filler = g_build_filename (root, "filler", NULL);
  vigil_test_fill_disk (filler);
  g_assert_cmpuint (vigil_test_free_bytes (root), ==, 0);

  /* Whatever slack the WAL file still had is used up by rows that free
   * nothing; then the catalog refuses every write. */
  for (guint i = 0; i < 1000 && refused_after == 0; i++)
    {
      g_autofree gchar *relative = g_strdup_printf ("cam0/extra-%04u.mkv", i);

      if (vigil_store_add_segment (store, "cam0", run, relative, T0 + (100 + i) * S, &error) == 0)
        {
          g_assert_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_FULL);
          g_clear_error (&error);
          refused_after = i + 1;
        }
    }
  g_assert_cmpuint (refused_after, >, 0);

  /* Without the reserve, retention is stuck: it may not unlink before
   * the row says 'deleting', and the catalog cannot say it. */
  oldest = vigil_store_get_absolute_path (store, ((VigilSegment *) segments->pdata[0])->path);
  g_assert_false (vigil_retention_delete_segment (store, segments->pdata[0], &error));
  g_assert_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_FULL);
  g_clear_error (&error);
  g_assert_true (g_file_test (oldest, G_FILE_TEST_EXISTS));

  /* Released, the reserve's blocks carry the catalog's writes, and each
   * deletion gives back far more than it took. */
  g_assert_true (vigil_reserve_remove (root, &released, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (released, ==, reserve);
  free_before = vigil_test_free_bytes (root);
  for (guint i = 0; i < segments->len; i++)
    {
      g_assert_true (vigil_retention_delete_segment (store, segments->pdata[i], &error));
      g_assert_no_error (error);
    }
  g_assert_false (g_file_test (oldest, G_FILE_TEST_EXISTS));
  /* (Less the reserve the catalog's WAL took, and a few pages more: the
   * catalog's running totals change a page per deletion too.) */
  g_assert_cmpuint (vigil_test_free_bytes (root), >=,
                    free_before + segments->len * 128 * 1024 - reserve - 16 * 4096);
  {
    g_autoptr(GPtrArray) left = vigil_store_list_segments (store, "cam0", 0, G_MAXINT64, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (left->len, ==, 0);
  }

  /* A reserve that does not fit is not left half made. */
  g_unlink (filler);
  vigil_test_fill_disk (filler);
  g_assert_false (vigil_reserve_set (root, reserve, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
  g_assert_cmpuint (vigil_reserve_get_size (root), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/storage/reserve/size-fits-the-file-system", test_reserve_size_fits_the_file_system);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("/storage/reserve/holds-its-blocks", test_reserve_holds_its_blocks);
  ADD ("/storage/reserve/lets-the-catalog-delete-on-a-full-disk", test_reserve_lets_the_catalog_delete_on_a_full_disk);
  return g_test_run ();
}
