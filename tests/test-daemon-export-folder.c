/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilExportFolder in a destination the "caller" (this test) tampers
 * with the way a local user who owns it could: the work folder swapped
 * for a link to a root-only folder, the final name taken by a dangling
 * link, files inside replaced. Whatever is done, the folder behind the
 * link keeps every file, owner and byte; only what the export folder made
 * is ever removed; and a bundle is published only where it belongs. Run
 * as root, the bundle is also handed to user 65534. */
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vigil-export-folder.h"
#include "vigil-test-util.h"

#define NOBODY 65534
#define SECRET "root only\n"

typedef struct {
  gchar *dir;
  gchar *dest;        /* the caller's destination */
  int    dest_fd;
  gchar *victim;      /* a folder of root's, 0755, holding secret (0600) */
  gchar *secret;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer unused)
{
  f->dir = vigil_test_make_tmp_dir ();
  f->dest = g_build_filename (f->dir, "dest", NULL);
  f->victim = g_build_filename (f->dir, "victim", NULL);
  f->secret = g_build_filename (f->victim, "secret", NULL);
  g_assert_cmpint (g_mkdir (f->dest, 0755), ==, 0);
  g_assert_cmpint (g_mkdir (f->victim, 0755), ==, 0);
  g_assert_true (g_file_set_contents_full (f->secret, SECRET, -1, G_FILE_SET_CONTENTS_NONE, 0600, NULL));
  f->dest_fd = g_open (f->dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  g_assert_cmpint (f->dest_fd, >=, 0);
}

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  g_close (f->dest_fd, NULL);
  g_free (f->dest);
  g_free (f->victim);
  g_free (f->secret);
  vigil_test_remove_tree (g_steal_pointer (&f->dir));
}

/* Whom to give the bundle to: another user when the test can chown. */
static gint64
caller_uid (void)
{
  return geteuid () == 0 && getpwuid (NOBODY) != NULL ? NOBODY : (gint64) getuid ();
}

/* The root-only folder is exactly as set up: one file, root's, 0600, unchanged. */
static void
assert_victim_untouched (Fixture *f)
{
  g_autofree gchar *names = vigil_test_list_folder (f->victim);
  g_autofree gchar *contents = NULL;
  GStatBuf st;

  g_assert_cmpstr (names, ==, "secret");
  g_assert_cmpint (g_lstat (f->secret, &st), ==, 0);
  g_assert_cmpuint (st.st_uid, ==, geteuid ());
  g_assert_cmpuint (st.st_mode & 07777, ==, 0600);
  g_assert_true (g_file_get_contents (f->secret, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, SECRET);
  g_assert_cmpint (g_lstat (f->victim, &st), ==, 0);
  g_assert_cmpuint (st.st_uid, ==, geteuid ());
  g_assert_cmpuint (st.st_mode & 07777, ==, 0755);
}

/* The ordinary case: a hidden root-only folder, files made new in it,
 * published whole under the final name and given to the caller. */
static void
test_publish (Fixture *f, gconstpointer unused)
{
  g_autoptr(VigilExportFolder) folder = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *work = NULL, *names = NULL, *bundle = NULL, *clip = NULL, *contents = NULL;
  gint64 uid = caller_uid ();
  GStatBuf st;
  int fd;

  folder = vigil_export_folder_new (f->dest_fd, &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (vigil_export_folder_get_name (folder), ".vigil-export-"));
  work = g_build_filename (f->dest, vigil_export_folder_get_name (folder), NULL);
  g_assert_cmpint (g_lstat (work, &st), ==, 0);
  g_assert_true (S_ISDIR (st.st_mode));
  g_assert_cmpuint (st.st_mode & 07777, ==, 0700);
  g_assert_cmpuint (st.st_uid, ==, geteuid ());

  g_assert_true (vigil_export_folder_write_file (folder, "manifest.json", "{}\n", 3, &error));
  g_assert_no_error (error);
  fd = vigil_export_folder_create_file (folder, "cam0.mp4", &error);
  g_assert_no_error (error);
  g_assert_cmpint (write (fd, "mp4", 3), ==, 3);
  g_close (fd, NULL);
  /* Never over a name, never out of the folder. */
  g_assert_cmpint (vigil_export_folder_create_file (folder, "cam0.mp4", &error), ==, -1);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_clear_error (&error);
  g_assert_cmpint (vigil_export_folder_create_file (folder, "../escaped", &error), ==, -1);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_FILENAME);
  g_clear_error (&error);

  g_assert_true (vigil_export_folder_publish (folder, "bundle", uid, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (vigil_export_folder_get_name (folder), ==, "bundle");
  vigil_export_folder_discard (folder);   /* a published folder stays */
  names = vigil_test_list_folder (f->dest);
  g_assert_cmpstr (names, ==, "bundle");
  bundle = g_build_filename (f->dest, "bundle", NULL);
  g_clear_pointer (&names, g_free);
  names = vigil_test_list_folder (bundle);
  g_assert_cmpstr (names, ==, "cam0.mp4,manifest.json");
  clip = g_build_filename (bundle, "cam0.mp4", NULL);
  g_assert_true (g_file_get_contents (clip, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "mp4");
  g_assert_cmpint (g_lstat (bundle, &st), ==, 0);
  g_assert_cmpuint (st.st_uid, ==, uid);
  g_assert_cmpuint (st.st_mode & 07777, ==, 0750);
  g_assert_cmpint (g_lstat (clip, &st), ==, 0);
  g_assert_cmpuint (st.st_uid, ==, uid);
  g_assert_cmpuint (st.st_mode & 07777, ==, 0644);
}

/* The attack of issue 12: while the job works, the caller renames the work
 * folder aside and puts a link to a root-only folder in its place. The job
 * goes on writing into its own folder (wherever it now is), refuses to
 * publish the link, and its discard removes only its own files. */
static void
test_swapped_for_a_link (Fixture *f, gconstpointer unused)
{
  g_autoptr(VigilExportFolder) folder = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *work = NULL, *aside = NULL, *names = NULL, *aside_names = NULL, *target = NULL;
  g_autofree gchar *expected = NULL;
  int fd;

  folder = vigil_export_folder_new (f->dest_fd, &error);
  g_assert_no_error (error);
  g_assert_true (vigil_export_folder_write_file (folder, "cam0.mp4", "before", 6, &error));
  work = g_build_filename (f->dest, vigil_export_folder_get_name (folder), NULL);
  aside = g_build_filename (f->dest, "aside", NULL);
  g_assert_cmpint (g_rename (work, aside), ==, 0);
  g_assert_cmpint (symlink (f->victim, work), ==, 0);

  fd = vigil_export_folder_create_file (folder, "cam0.jpg", &error);
  g_assert_no_error (error);
  g_close (fd, NULL);
  g_assert_true (vigil_export_folder_write_file (folder, "manifest.json", "{}", 2, &error));
  g_assert_false (vigil_export_folder_publish (folder, "bundle", caller_uid (), &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_FAILED);
  g_test_message ("refused as expected: %s", error->message);
  vigil_export_folder_discard (folder);

  assert_victim_untouched (f);
  /* The link is the caller's and stays; the job's own folder, moved
   * aside, is emptied of what the job made but not removed by a name
   * that no longer leads to it. */
  target = g_file_read_link (work, NULL);
  g_assert_cmpstr (target, ==, f->victim);
  names = vigil_test_list_folder (f->dest);
  expected = g_strdup_printf ("%s,aside", strrchr (work, '/') + 1);
  g_assert_cmpstr (names, ==, expected);
  aside_names = vigil_test_list_folder (aside);
  g_assert_cmpstr (aside_names, ==, "");
}

/* A dangling link planted at the bundle's name is never replaced nor
 * followed: publishing fails, and the discard removes the whole work
 * folder and nothing else. */
static void
test_final_name_taken (Fixture *f, gconstpointer unused)
{
  g_autoptr(VigilExportFolder) folder = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *planted = g_build_filename (f->dest, "bundle", NULL);
  g_autofree gchar *nowhere = g_build_filename (f->victim, "made-by-vigild", NULL);
  g_autofree gchar *target = NULL, *names = NULL;

  g_assert_cmpint (symlink (nowhere, planted), ==, 0);
  folder = vigil_export_folder_new (f->dest_fd, &error);
  g_assert_no_error (error);
  g_assert_true (vigil_export_folder_write_file (folder, "manifest.json", "{}", 2, &error));
  g_assert_false (vigil_export_folder_publish (folder, "bundle", caller_uid (), &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  vigil_export_folder_discard (folder);

  assert_victim_untouched (f);
  names = vigil_test_list_folder (f->dest);
  g_assert_cmpstr (names, ==, "bundle");
  target = g_file_read_link (planted, NULL);
  g_assert_cmpstr (target, ==, nowhere);
}

/* Files the folder made and the caller replaced (possible once the folder
 * is theirs) are not its to remove: only names that still lead to what it
 * made go, and the folder stays while something else is in it. */
static void
test_discard_spares_what_it_did_not_make (Fixture *f, gconstpointer unused)
{
  g_autoptr(VigilExportFolder) folder = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *work = NULL, *replaced = NULL, *added = NULL, *link = NULL, *names = NULL;

  folder = vigil_export_folder_new (f->dest_fd, &error);
  g_assert_no_error (error);
  g_assert_true (vigil_export_folder_write_file (folder, "cam0.mp4", "a", 1, &error));
  g_assert_true (vigil_export_folder_write_file (folder, "cam0.jpg", "b", 1, &error));
  work = g_build_filename (f->dest, vigil_export_folder_get_name (folder), NULL);
  replaced = g_build_filename (work, "cam0.jpg", NULL);
  added = g_build_filename (work, "planted", NULL);
  link = g_build_filename (work, "link", NULL);
  /* Renamed over it, so that the link cannot reuse the file's inode
   * number (a reused one would make it look like the file, and lose the
   * caller only their own link). */
  g_assert_cmpint (symlink (f->secret, link), ==, 0);
  g_assert_cmpint (g_rename (link, replaced), ==, 0);
  g_assert_true (g_file_set_contents (added, "x", 1, NULL));

  vigil_export_folder_discard (folder);
  assert_victim_untouched (f);
  names = vigil_test_list_folder (work);
  g_assert_cmpstr (names, ==, "cam0.jpg,planted");
}

/* Two jobs in one destination never share a work folder. */
static void
test_two_folders_never_meet (Fixture *f, gconstpointer unused)
{
  g_autoptr(VigilExportFolder) first = NULL;
  g_autoptr(VigilExportFolder) second = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *names = NULL;

  first = vigil_export_folder_new (f->dest_fd, &error);
  g_assert_no_error (error);
  second = vigil_export_folder_new (f->dest_fd, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (vigil_export_folder_get_name (first), !=, vigil_export_folder_get_name (second));
  g_assert_true (vigil_export_folder_write_file (first, "manifest.json", "1", 1, &error));
  g_assert_true (vigil_export_folder_write_file (second, "manifest.json", "2", 1, &error));
  g_assert_true (vigil_export_folder_publish (first, "bundle", caller_uid (), &error));
  g_assert_false (vigil_export_folder_publish (second, "bundle", caller_uid (), &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_clear_error (&error);
  g_assert_true (vigil_export_folder_publish (second, "bundle-2", caller_uid (), &error));
  g_assert_no_error (error);
  names = vigil_test_list_folder (f->dest);
  g_assert_cmpstr (names, ==, "bundle,bundle-2");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("/daemon/export-folder/publish", test_publish);
  ADD ("/daemon/export-folder/swapped-for-a-link", test_swapped_for_a_link);
  ADD ("/daemon/export-folder/final-name-taken", test_final_name_taken);
  ADD ("/daemon/export-folder/discard-spares-what-it-did-not-make", test_discard_spares_what_it_did_not_make);
  ADD ("/daemon/export-folder/two-folders-never-meet", test_two_folders_never_meet);
#undef ADD
  return g_test_run ();
}
