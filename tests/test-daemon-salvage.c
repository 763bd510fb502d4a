/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilSalvage puts right, while vigild runs, what a failed write left:
 * a segment cut off mid-file becomes a 'recovered' row that ends where
 * its video does and decodes to exactly that many frames; one cut off
 * before any video goes, with its row if it had one; one without a row
 * is adopted. A closed segment whose row a full catalog refused (a real
 * full tmpfs) waits, says ::catalog-full, and is cataloged complete once
 * there is room again. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <sys/mount.h>
#include <unistd.h>

#include "vigil-salvage.h"
#include "vigil-test-util.h"

#define S (G_USEC_PER_SEC)
#define T0 (G_GINT64_CONSTANT (1795000000) * S)

typedef struct {
  gchar        *dir;
  gchar        *root;
  gchar        *catalog;
  VigilStore   *store;
  VigilSalvage *salvage;
  gint64        run;
  guint         cataloged, catalog_full;
  gboolean      cut;            /* of the last ::cataloged */
} Fixture;

static void
on_cataloged (VigilSalvage *salvage, const VigilSegment *segment, gboolean cut, Fixture *f)
{
  f->cataloged++;
  f->cut = cut;
}

static void
on_catalog_full (VigilSalvage *salvage, Fixture *f)
{
  f->catalog_full++;
}

/* The store on @root (the fixture's folder, or a tmpfs mounted there). */
static void
open_store (Fixture *f)
{
  g_autoptr(GError) error = NULL;

  f->store = vigil_store_new (f->catalog, f->root, &error);
  g_assert_no_error (error);
  g_assert_true (vigil_store_add_camera (f->store, "cam0", &error));
  f->run = vigil_store_start_run (f->store, "cam0", T0, &error);
  g_assert_no_error (error);
  f->salvage = vigil_salvage_new (f->store);
  g_signal_connect (f->salvage, "cataloged", G_CALLBACK (on_cataloged), f);
  g_signal_connect (f->salvage, "catalog-full", G_CALLBACK (on_catalog_full), f);
}

static void
fixture_set_up (Fixture *f, gconstpointer unused)
{
  f->dir = vigil_test_make_tmp_dir ();
  f->root = g_build_filename (f->dir, "recordings", NULL);
  f->catalog = g_build_filename (f->root, "catalog.db", NULL);
  g_assert_cmpint (g_mkdir (f->root, 0700), ==, 0);
}

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  g_clear_object (&f->salvage);
  g_clear_object (&f->store);
  umount2 (f->root, MNT_DETACH);
  g_free (f->catalog);
  g_free (f->root);
  vigil_test_remove_tree (g_steal_pointer (&f->dir));
}

/* Writes @frames of 10 fps H.264 in Matroska (a keyframe every 10), as
 * the recorder would, at ROOT/@relative. */
static gchar *
make_segment (Fixture *f, const gchar *relative, guint frames)
{
  g_autofree gchar *path = g_build_filename (f->root, relative, NULL);
  g_autofree gchar *folder = g_path_get_dirname (path);
  g_autofree gchar *description = NULL;

  g_assert_cmpint (g_mkdir_with_parents (folder, 0700), ==, 0);
  description = g_strdup_printf ("videotestsrc num-buffers=%u ! video/x-raw,width=160,height=120,framerate=10/1 "
                                 "! x264enc key-int-max=10 ! h264parse ! matroskamux ! filesink location=\"%s\"",
                                 frames, path);
  vigil_test_run_pipeline (description, 60);
  return g_steal_pointer (&path);
}

static gint64
add_writing_row (Fixture *f, const gchar *relative)
{
  g_autoptr(GError) error = NULL;
  gint64 id = vigil_store_add_segment (f->store, "cam0", f->run, relative, T0, &error);

  g_assert_no_error (error);
  return id;
}

static gboolean
salvage_done (gpointer data)
{
  return vigil_salvage_get_pending (((Fixture *) data)->salvage) == 0;
}

static VigilSegment *
find_row (Fixture *f, const gchar *relative, VigilSegmentState state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) rows = vigil_store_list_segments_in_state (f->store, state, &error);

  g_assert_no_error (error);
  for (guint i = 0; i < rows->len; i++)
    if (g_str_equal (((VigilSegment *) rows->pdata[i])->path, relative))
      return vigil_segment_copy (rows->pdata[i]);
  return NULL;
}

static gboolean
have_encoder (void)
{
  if (vigil_test_have_elements ("x264enc", "h264parse", "matroskamux", "parsebin", "avdec_h264", NULL))
    return TRUE;
  g_test_skip ("needs x264enc, h264parse, matroskamux, parsebin and avdec_h264");
  return FALSE;
}

/* Cut mid-file, as a full disk leaves it: kept up to what was written. */
static void
test_salvage_keeps_what_a_cut_segment_holds (Fixture *f, gconstpointer unused)
{
  const gchar *relative = "cam0/2026/11/18/20261118T110640.000Z.mkv";
  g_autofree gchar *path = NULL;
  g_autoptr(VigilSegment) row = NULL;
  g_autoptr(GError) error = NULL;
  GStatBuf st;
  gint64 id;

  if (!have_encoder ())
    return;
  open_store (f);
  path = make_segment (f, relative, 40);
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (truncate (path, st.st_size * 6 / 10), ==, 0);
  id = add_writing_row (f, relative);

  vigil_salvage_add_cut (f->salvage, "cam0", relative, T0, id, f->run);
  g_assert_true (vigil_test_wait_until (salvage_done, f, 60));
  row = find_row (f, relative, VIGIL_SEGMENT_RECOVERED);
  g_assert_nonnull (row);
  g_assert_cmpint (row->id, ==, id);
  g_assert_cmpuint (row->frames, >, 0);
  g_assert_cmpuint (row->frames, <, 40);
  g_assert_cmpint (row->end_us, >, T0);
  g_assert_cmpint (row->end_us, <=, T0 + 4 * S);
  g_assert_cmpint (vigil_test_decode_file (path, &error), ==, (gint64) row->frames);
  g_assert_no_error (error);
  g_assert_cmpuint (f->cataloged, ==, 1);
  g_assert_true (f->cut);
}

/* Cut before any video: the file goes, and its row with it; a file
 * without a row goes too; a playable one without a row is adopted. */
static void
test_salvage_removes_or_adopts (Fixture *f, gconstpointer unused)
{
  const gchar *empty_with_row = "cam0/2026/11/18/20261118T110700.000Z.mkv";
  const gchar *empty_alone = "cam0/2026/11/18/20261118T110702.000Z.mkv";
  const gchar *whole_alone = "cam0/2026/11/18/20261118T110704.000Z.mkv";
  g_autofree gchar *path1 = NULL;
  g_autofree gchar *path2 = NULL;
  g_autofree gchar *path3 = NULL;
  g_autoptr(VigilSegment) adopted = NULL;
  gint64 id;

  if (!have_encoder ())
    return;
  open_store (f);
  path3 = make_segment (f, whole_alone, 20);
  path1 = g_build_filename (f->root, empty_with_row, NULL);
  path2 = g_build_filename (f->root, empty_alone, NULL);
  g_assert_true (g_file_set_contents (path1, "", 0, NULL));
  g_assert_true (g_file_set_contents (path2, "\x1a\x45\xdf\xa3", 4, NULL));   /* an EBML magic, nothing more */
  id = add_writing_row (f, empty_with_row);

  vigil_salvage_add_cut (f->salvage, "cam0", empty_with_row, T0, id, f->run);
  vigil_salvage_add_cut (f->salvage, "cam0", empty_alone, T0 + 2 * S, 0, f->run);
  vigil_salvage_add_cut (f->salvage, "cam0", whole_alone, T0 + 4 * S, 0, f->run);
  g_assert_true (vigil_test_wait_until (salvage_done, f, 60));
  g_assert_false (g_file_test (path1, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (path2, G_FILE_TEST_EXISTS));
  g_assert_null (find_row (f, empty_with_row, VIGIL_SEGMENT_WRITING));
  g_assert_null (find_row (f, empty_with_row, VIGIL_SEGMENT_DELETING));
  adopted = find_row (f, whole_alone, VIGIL_SEGMENT_RECOVERED);
  g_assert_nonnull (adopted);
  g_assert_cmpuint (adopted->frames, ==, 20);
  g_assert_cmpint (adopted->start_us, ==, T0 + 4 * S);
  g_assert_cmpuint (f->cataloged, ==, 1);
}

/* A closed segment whose row the full catalog refused waits for room. */
static void
test_salvage_waits_for_a_full_catalog (Fixture *f, gconstpointer unused)
{
  const gchar *relative = "cam0/2026/11/18/20261118T110640.000Z.mkv";
  g_autofree gchar *filler = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilSegment) row = NULL;
  VigilSegment closed = {
    .camera = "cam0", .path = (gchar *) relative, .start_us = T0, .end_us = T0 + 2 * S,
    .media_duration_ns = 2 * G_GINT64_CONSTANT (1000000000), .size_bytes = 100, .frames = 20, .keyframes = 2,
    .codec = "h264", .state = VIGIL_SEGMENT_COMPLETE,
  };

  if (!vigil_test_mount_tmpfs (f->root, 2))
    {
      g_test_skip ("needs root to mount a small tmpfs (CI runs as root)");
      return;
    }
  open_store (f);
  closed.run_id = f->run;
  closed.id = add_writing_row (f, relative);
  filler = g_build_filename (f->root, "filler", NULL);
  vigil_test_fill_disk (filler);
  /* Used up the WAL's slack: the catalog refuses every write now. */
  for (guint i = 0; i < 1000 && error == NULL; i++)
    {
      g_autofree gchar *name = g_strdup_printf ("x%04u", i);
      vigil_store_add_camera (f->store, name, &error);
    }
  g_assert_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_FULL);

  vigil_salvage_add_closed (f->salvage, &closed);
  g_assert_cmpuint (f->catalog_full, ==, 1);
  g_assert_cmpuint (vigil_salvage_get_pending (f->salvage), ==, 1);

  g_assert_cmpint (g_unlink (filler), ==, 0);
  vigil_salvage_retry (f->salvage);
  g_assert_true (vigil_test_wait_until (salvage_done, f, 30));
  row = find_row (f, relative, VIGIL_SEGMENT_COMPLETE);
  g_assert_nonnull (row);
  g_assert_cmpint (row->end_us, ==, T0 + 2 * S);
  g_assert_cmpuint (f->cataloged, ==, 1);
  g_assert_false (f->cut);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("/daemon/salvage/keeps-what-a-cut-segment-holds", test_salvage_keeps_what_a_cut_segment_holds);
  ADD ("/daemon/salvage/removes-or-adopts", test_salvage_removes_or_adopts);
  ADD ("/daemon/salvage/waits-for-a-full-catalog", test_salvage_waits_for_a_full_catalog);
  return g_test_run ();
}
