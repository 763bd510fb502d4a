/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Incidents, evidence locks, retention and the audit log in a real
 * SQLite catalog with real segment files: a locked segment outlives a
 * retention pass that deletes its unlocked neighbours, a release lets
 * retention have it, locks survive reopening, and removing or editing
 * one audit row is detected. */
#include <glib/gstdio.h>
#include <sqlite3.h>

#include "vigil-audit.h"
#include "vigil-incidents.h"
#include "vigil-signing.h"
#include "vigil-retention.h"
#include "vigil-test-util.h"

#define S (G_GINT64_CONSTANT (1000000))
#define T0 (G_GINT64_CONSTANT (1795000000) * S)    /* 2026-11-18, an arbitrary UTC instant */
#define NOW (T0 + 86400 * S)

typedef struct {
  gchar      *dir;
  gchar      *catalog;
  VigilStore *store;
  gint64      run;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;

  f->dir = vigil_test_make_tmp_dir ();
  f->catalog = g_build_filename (f->dir, "catalog.db", NULL);
  f->store = vigil_store_new (f->catalog, f->dir, &error);
  g_assert_no_error (error);
  g_assert_true (vigil_store_add_camera (f->store, "entrance", &error));
  g_assert_true (vigil_store_add_camera (f->store, "yard", &error));
  f->run = vigil_store_start_run (f->store, "entrance", T0, &error);
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  g_clear_object (&f->store);
  g_clear_pointer (&f->catalog, g_free);
  vigil_test_remove_tree (g_steal_pointer (&f->dir));
}

/* Writes a real file for segment @index (10 s long from T0) of
 * "entrance" and catalogs it complete. */
static gint64
add_segment_file (Fixture *f, guint index)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *relative = g_strdup_printf ("entrance/seg%02u.mkv", index);
  g_autofree gchar *path = g_build_filename (f->dir, relative, NULL);
  g_autofree gchar *folder = g_path_get_dirname (path);
  VigilSegment segment = { 0 };

  g_mkdir_with_parents (folder, 0700);
  g_assert_true (g_file_set_contents (path, "not really video", -1, NULL));
  segment.id = vigil_store_add_segment (f->store, "entrance", f->run, relative, T0 + index * 10 * S, &error);
  g_assert_no_error (error);
  segment.end_us = T0 + (index + 1) * 10 * S;
  segment.size_bytes = 16;
  segment.state = VIGIL_SEGMENT_COMPLETE;
  g_assert_true (vigil_store_finish_segment (f->store, &segment, &error));
  g_assert_no_error (error);
  return segment.id;
}

static gboolean
segment_file_exists (Fixture *f, guint index)
{
  g_autofree gchar *path = g_strdup_printf ("%s/entrance/seg%02u.mkv", f->dir, index);
  return g_file_test (path, G_FILE_TEST_EXISTS);
}

static guint
count_segments (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) segments = vigil_store_list_segments (f->store, "entrance", 0, G_MAXINT64, &error);

  g_assert_no_error (error);
  return segments->len;
}

static gint64
add_incident (Fixture *f, gint64 start_us, gint64 end_us, gint64 roll_us)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilIncident) incident = vigil_incident_new ();
  const gchar *cameras[] = { "entrance", NULL };
  gint64 id;

  incident->title = g_strdup ("fight at the door");
  incident->cameras = g_strdupv ((gchar **) cameras);
  incident->start_us = start_us;
  incident->end_us = end_us;
  incident->pre_roll_us = roll_us;
  incident->post_roll_us = roll_us;
  incident->created_us = NOW;
  incident->created_uid = 1000;
  incident->created_user = g_strdup ("alice");
  id = vigil_store_add_incident (f->store, incident, &error);
  g_assert_no_error (error);
  g_assert_cmpint (id, >, 0);
  return id;
}

static void
test_incident_round_trip (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilIncident) incident = vigil_incident_new ();
  g_autoptr(VigilIncident) read = NULL;
  const gchar *cameras[] = { "yard", "entrance", NULL };
  const gchar *tags[] = { "police", "fight", NULL };
  VigilIncidentNote note = { .time_us = NOW, .uid = 1000, .user = "alice", .text = "two people, one bike" };
  gint64 id;

  incident->title = g_strdup ("fight at the door");
  incident->description = g_strdup ("seen on the entrance feed");
  incident->cameras = g_strdupv ((gchar **) cameras);
  incident->tags = g_strdupv ((gchar **) tags);
  incident->start_us = T0 + 100 * S;
  incident->created_us = NOW;
  incident->created_uid = 1000;
  incident->created_user = g_strdup ("alice");
  id = vigil_store_add_incident (f->store, incident, &error);
  g_assert_no_error (error);
  g_assert_true (vigil_store_add_incident_note (f->store, id, &note, &error));
  g_assert_true (vigil_store_add_incident_tag (f->store, id, "bike", &error));
  g_assert_true (vigil_store_remove_incident_tag (f->store, id, "fight", &error));
  g_assert_no_error (error);

  /* Reopened: everything is in the file, not in memory. */
  g_clear_object (&f->store);
  f->store = vigil_store_new (f->catalog, f->dir, &error);
  g_assert_no_error (error);
  read = vigil_store_get_incident (f->store, id, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (read->title, ==, "fight at the door");
  g_assert_cmpstr (read->description, ==, "seen on the entrance feed");
  g_assert_cmpstr (read->cameras[0], ==, "entrance");
  g_assert_cmpstr (read->cameras[1], ==, "yard");
  g_assert_cmpstr (read->tags[0], ==, "bike");
  g_assert_cmpstr (read->tags[1], ==, "police");
  g_assert_null (read->tags[2]);
  g_assert_cmpuint (read->notes->len, ==, 1);
  g_assert_cmpstr (((VigilIncidentNote *) read->notes->pdata[0])->text, ==, "two people, one bike");
  g_assert_cmpint (read->end_us, ==, 0);
  g_assert_cmpint (read->pre_roll_us, ==, 30 * S);
  g_assert_cmpint (read->created_uid, ==, 1000);

  g_assert_true (vigil_store_close_incident (f->store, id, T0 + 160 * S, NOW, &error));
  g_assert_no_error (error);
  g_assert_false (vigil_store_close_incident (f->store, id, T0 + 170 * S, NOW, &error));
  g_assert_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_INVALID);
}

static void
test_incident_bad_input (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilIncident) incident = vigil_incident_new ();
  const gchar *unknown[] = { "entrance", "garage", NULL };
  const gchar *cameras[] = { "entrance", NULL };

  incident->title = g_strdup ("x");
  incident->start_us = T0;
  incident->cameras = g_strdupv ((gchar **) unknown);
  g_assert_cmpint (vigil_store_add_incident (f->store, incident, &error), ==, 0);
  g_assert_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "garage"));
  g_clear_error (&error);
  /* Nothing half-stored: the failed incident left no row behind. */
  {
    g_autoptr(GPtrArray) all = vigil_store_list_incidents (f->store, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (all->len, ==, 0);
  }

  g_strfreev (incident->cameras);
  incident->cameras = g_strdupv ((gchar **) cameras);
  incident->end_us = T0 - S;
  g_assert_cmpint (vigil_store_add_incident (f->store, incident, &error), ==, 0);
  g_assert_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "before start"));
  g_clear_error (&error);

  incident->end_us = 0;
  g_clear_pointer (&incident->title, g_free);
  incident->title = g_strdup ("");
  g_assert_cmpint (vigil_store_add_incident (f->store, incident, &error), ==, 0);
  g_assert_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "title"));
  g_clear_error (&error);

  g_assert_null (vigil_store_get_incident (f->store, 42, &error));
  g_assert_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_NOT_FOUND);
}

/* What is shown in logs, terminals and exports cannot forge a line or
 * reorder what is read; a reason is more than white space. */
static void
test_incident_text_is_one_clean_line (Fixture *f, gconstpointer unused)
{
  const gchar *titles[] = { "fight\nvigild: audit: incident-release by supervisor", "red \x1b[31mALERT",
                            "\u202Eesaeler", "\t" };
  const gchar *cameras[] = { "entrance", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilIncident) incident = vigil_incident_new ();
  VigilIncidentNote note = { .time_us = NOW, .uid = 1000, .user = (gchar *) "ann" };
  gint64 id;

  incident->cameras = g_strdupv ((gchar **) cameras);
  incident->start_us = T0;
  for (guint i = 0; i < G_N_ELEMENTS (titles); i++)
    {
      g_free (incident->title);
      incident->title = g_strdup (titles[i]);
      g_assert_cmpint (vigil_store_add_incident (f->store, incident, &error), ==, 0);
      g_assert_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_INVALID);
      g_assert_nonnull (strstr (error->message, "title"));
      g_clear_error (&error);
    }
  g_free (incident->title);
  incident->title = g_strdup ("fight at the door");
  incident->description = g_strdup ("two people\none in red");   /* free text keeps its lines */
  id = vigil_store_add_incident (f->store, incident, &error);
  g_assert_no_error (error);

  note.text = (gchar *) "left\x1b[2J at 14:05";
  g_assert_false (vigil_store_add_incident_note (f->store, id, &note, &error));
  g_assert_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_INVALID);
  g_clear_error (&error);
  note.text = (gchar *) "left at 14:05\nby the bins";
  g_assert_true (vigil_store_add_incident_note (f->store, id, &note, &error));
  g_assert_no_error (error);
  /* Notes travel with the incident: there is a most. */
  for (guint i = 1; i < VIGIL_INCIDENT_MAX_NOTES; i++)
    g_assert_true (vigil_store_add_incident_note (f->store, id, &note, &error));
  g_assert_false (vigil_store_add_incident_note (f->store, id, &note, &error));
  g_assert_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "notes"));
  g_clear_error (&error);

  g_assert_false (vigil_store_release_incident (f->store, id, NOW, "   ", &error));
  g_assert_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "blank"));
  g_clear_error (&error);
  g_assert_true (vigil_store_release_incident (f->store, id, NOW, "case closed by the police", &error));
  g_assert_no_error (error);
}

/* Times that would overflow a lock's end, or mean "all footage since
 * 1970", are refused with a clear error, never stored as a lock that does
 * not hold. */
static void
test_incident_times_out_of_range (Fixture *f, gconstpointer unused)
{
  const struct { gint64 start_us, end_us, expires_us; const gchar *expected; } cases[] = {
    { T0, G_MAXINT64, 0, "end time" },                 /* end + post-roll overflowed */
    { 1, 0, 0, "start time" },                         /* lock everything since 1970 */
    { G_MININT64 + 1, T0, 0, "start time" },
    { T0, 0, -1, "expiry" },
    { T0, 0, G_MAXINT64, "expiry" },
  };
  const gchar *cameras[] = { "entrance", "entrance", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) all = NULL;
  gint64 id;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(VigilIncident) incident = vigil_incident_new ();

      incident->title = g_strdup ("x");
      incident->cameras = g_strdupv ((gchar **) cameras);
      incident->start_us = cases[i].start_us;
      incident->end_us = cases[i].end_us;
      incident->expires_us = cases[i].expires_us;
      g_assert_cmpint (vigil_store_add_incident (f->store, incident, &error), ==, 0);
      g_assert_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_INVALID);
      g_assert_nonnull (strstr (error->message, cases[i].expected));
      g_clear_error (&error);
    }
  all = vigil_store_list_incidents (f->store, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (all->len, ==, 0);

  /* A camera named twice is locked once; the incident holds. */
  {
    g_autoptr(VigilIncident) incident = vigil_incident_new ();
    g_autoptr(VigilIncident) stored = NULL;

    incident->title = g_strdup ("x");
    incident->cameras = g_strdupv ((gchar **) cameras);
    incident->start_us = T0;
    id = vigil_store_add_incident (f->store, incident, &error);
    g_assert_no_error (error);
    stored = vigil_store_get_incident (f->store, id, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (g_strv_length (stored->cameras), ==, 1);
  }
  g_assert_false (vigil_store_close_incident (f->store, id, G_MAXINT64, NOW, &error));
  g_assert_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (vigil_store_set_incident_expiry (f->store, id, G_MAXINT64, &error));
  g_assert_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_true (vigil_store_close_incident (f->store, id, T0 + 60 * S, NOW, &error));
  g_assert_no_error (error);
}

static void
test_incident_search (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  gint64 early = add_incident (f, T0, T0 + 60 * S, 0);
  gint64 late = add_incident (f, T0 + 3600 * S, 0, 0);
  VigilIncidentFilter by_time = { .from_us = T0 + 1800 * S, .to_us = T0 + 7200 * S };
  VigilIncidentFilter by_tag = { .tag = "police" };
  VigilIncidentFilter by_camera = { .camera = "yard" };
  VigilIncidentFilter by_text = { .text = "DOOR" };
  g_autoptr(GPtrArray) found = NULL;

  g_assert_true (vigil_store_add_incident_tag (f->store, early, "police", &error));
  found = vigil_store_list_incidents (f->store, &by_time, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (found->len, ==, 1);
  g_assert_cmpint (((VigilIncident *) found->pdata[0])->id, ==, late);   /* open: still overlaps */
  g_clear_pointer (&found, g_ptr_array_unref);
  found = vigil_store_list_incidents (f->store, &by_tag, &error);
  g_assert_cmpuint (found->len, ==, 1);
  g_assert_cmpint (((VigilIncident *) found->pdata[0])->id, ==, early);
  g_clear_pointer (&found, g_ptr_array_unref);
  found = vigil_store_list_incidents (f->store, &by_camera, &error);
  g_assert_cmpuint (found->len, ==, 0);
  g_clear_pointer (&found, g_ptr_array_unref);
  found = vigil_store_list_incidents (f->store, &by_text, &error);
  g_assert_cmpuint (found->len, ==, 2);
  g_assert_cmpint (((VigilIncident *) found->pdata[0])->id, ==, late);   /* newest first */
  g_clear_pointer (&found, g_ptr_array_unref);
  /* Pages: one at a time, the second after the first. */
  {
    VigilIncidentFilter second_page = { .limit = 1, .offset = 1 };

    found = vigil_store_list_incidents (f->store, &second_page, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (found->len, ==, 1);
    g_assert_cmpint (((VigilIncident *) found->pdata[0])->id, ==, early);
  }
}

/* An incident's tags and cameras are bounded, so is what it costs on D-Bus. */
static void
test_incident_tags_and_cameras_bounded (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilIncident) incident = vigil_incident_new ();
  g_autoptr(GPtrArray) many = g_ptr_array_new_with_free_func (g_free);
  gint64 id = add_incident (f, T0, T0 + 60 * S, 0);

  for (guint i = 0; i < VIGIL_INCIDENT_MAX_TAGS; i++)
    {
      g_autofree gchar *tag = g_strdup_printf ("t%u", i);

      g_assert_true (vigil_store_add_incident_tag (f->store, id, tag, &error));
      g_assert_no_error (error);
    }
  g_assert_false (vigil_store_add_incident_tag (f->store, id, "one-too-many", &error));
  g_assert_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "32 tags"));
  g_clear_error (&error);
  /* A tag it has already is no new tag. */
  g_assert_true (vigil_store_add_incident_tag (f->store, id, "t0", &error));
  g_assert_no_error (error);

  for (guint i = 0; i <= VIGIL_INCIDENT_MAX_CAMERAS; i++)
    g_ptr_array_add (many, g_strdup ("entrance"));
  g_ptr_array_add (many, NULL);
  incident->title = g_strdup ("x");
  incident->cameras = g_strdupv ((gchar **) many->pdata);
  incident->start_us = T0;
  g_assert_cmpint (vigil_store_add_incident (f->store, incident, &error), ==, 0);
  g_assert_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "64 cameras"));
}

/* The test: retention deletes the unlocked neighbours, the locked
 * segments and their files stay, across a reopen; after Release they go. */
static void
test_locked_segment_outlives_retention (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  guint deleted = 0;
  gboolean locked = FALSE;
  gint64 id;

  for (guint i = 0; i < 6; i++)
    add_segment_file (f, i);
  /* Incident 25 s..28 s with 5 s of roll: locks [20 s, 33 s), i.e.
   * segments 2 (20-30 s) and 3 (30-40 s). */
  id = add_incident (f, T0 + 25 * S, T0 + 28 * S, 5 * S);
  g_assert_true (vigil_store_is_span_locked (f->store, "entrance", T0 + 20 * S, T0 + 30 * S, NOW, &locked, &error));
  g_assert_true (locked);

  g_clear_object (&f->store);
  f->store = vigil_store_new (f->catalog, f->dir, &error);
  g_assert_no_error (error);

  vigil_retention_delete_before (f->store, NULL, T0 + 60 * S, NOW, &deleted, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (deleted, ==, 4);
  g_assert_false (segment_file_exists (f, 0));
  g_assert_false (segment_file_exists (f, 1));
  g_assert_true (segment_file_exists (f, 2));
  g_assert_true (segment_file_exists (f, 3));
  g_assert_false (segment_file_exists (f, 4));
  g_assert_cmpuint (count_segments (f), ==, 2);

  g_assert_true (vigil_store_release_incident (f->store, id, NOW, "case closed by the police", &error));
  g_assert_no_error (error);
  vigil_retention_delete_before (f->store, NULL, T0 + 60 * S, NOW, &deleted, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (deleted, ==, 2);
  g_assert_false (segment_file_exists (f, 2));
  g_assert_cmpuint (count_segments (f), ==, 0);
}

/* An open incident locks everything from its start on, including what is
 * recorded after it was created; an expired lock no longer holds. */
static void
test_open_and_expiring_locks (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) expired = NULL;
  guint deleted = 0;
  gint64 id;

  id = add_incident (f, T0 + 35 * S, 0, 0);
  for (guint i = 0; i < 6; i++)
    add_segment_file (f, i);
  vigil_retention_delete_before (f->store, NULL, T0 + 60 * S, NOW, &deleted, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (deleted, ==, 3);           /* 0-30 s; 30-60 s is held */

  g_assert_true (vigil_store_set_incident_expiry (f->store, id, NOW + 10 * S, &error));
  g_assert_no_error (error);
  vigil_retention_delete_before (f->store, NULL, T0 + 60 * S, NOW, &deleted, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (deleted, ==, 0);
  /* After the expiry the lock is void even before anyone marks it released. */
  vigil_retention_delete_before (f->store, NULL, T0 + 60 * S, NOW + 11 * S, &deleted, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (deleted, ==, 3);
  expired = vigil_store_release_expired_incidents (f->store, NOW + 11 * S, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (expired->len, ==, 1);
  {
    g_autoptr(VigilIncident) incident = vigil_store_get_incident (f->store, id, &error);
    g_assert_cmpstr (incident->release_reason, ==, "expired");
  }
}

static void
append_rows (Fixture *f, guint n)
{
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < n; i++)
    {
      g_autofree gchar *target = g_strdup_printf ("incident %u", i + 1);
      g_assert_cmpint (vigil_store_append_audit (f->store, NOW + i * S, 1000, "alice", "incident-create", target,
                                                 "{\"title\":\"x\"}", &error), ==, i + 1);
      g_assert_no_error (error);
    }
}

/* Tampering goes through the sqlite3 library, as an attacker with the
 * file would; the triggers have to go first. */
static void
tamper (Fixture *f, const gchar *sql)
{
  sqlite3 *db = NULL;
  g_autofree gchar *all = g_strdup_printf ("drop trigger if exists audit_no_update; drop trigger if exists audit_no_delete; %s", sql);

  g_assert_cmpint (sqlite3_open (f->catalog, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, all, NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);
}

static void
test_audit_chain_intact (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) rows = NULL;
  g_autofree gchar *head = NULL;
  gint64 n = 0, head_id = 0;
  sqlite3 *db = NULL;

  append_rows (f, 5);
  g_assert_true (vigil_store_verify_audit (f->store, &n, &head_id, &head, &error));
  g_assert_no_error (error);
  g_assert_cmpint (n, ==, 5);
  g_assert_cmpint (head_id, ==, 5);
  rows = vigil_store_list_audit (f->store, 0, 2, &error);
  g_assert_cmpuint (rows->len, ==, 2);
  g_assert_cmpint (((VigilAuditEntry *) rows->pdata[1])->id, ==, 5);
  g_assert_cmpstr (((VigilAuditEntry *) rows->pdata[1])->sha256, ==, head);
  g_assert_cmpstr (((VigilAuditEntry *) rows->pdata[1])->prev_sha256, ==,
                   ((VigilAuditEntry *) rows->pdata[0])->sha256);

  /* The append-only triggers refuse a plain edit. */
  g_assert_cmpint (sqlite3_open (f->catalog, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, "delete from audit where id = 2", NULL, NULL, NULL), !=, SQLITE_OK);
  sqlite3_close (db);
}

static void
test_audit_detects_removed_row (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;

  append_rows (f, 5);
  tamper (f, "delete from audit where id = 3");
  g_assert_false (vigil_store_verify_audit (f->store, NULL, NULL, NULL, &error));
  g_assert_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_TAMPERED);
  g_assert_nonnull (strstr (error->message, "row 3"));
}

static void
test_audit_detects_edited_row (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;

  append_rows (f, 5);
  tamper (f, "update audit set user = 'mallory' where id = 2");
  g_assert_false (vigil_store_verify_audit (f->store, NULL, NULL, NULL, &error));
  g_assert_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_TAMPERED);
  g_assert_nonnull (strstr (error->message, "row 2"));
}

/* Cutting rows off the end leaves a valid chain; what shows it is the
 * head recorded earlier (every export manifest carries one). */
static void
test_audit_cut_tail_changes_head (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *recorded = NULL;
  g_autofree gchar *after = NULL;
  gint64 recorded_id = 0, after_id = 0;

  append_rows (f, 5);
  g_assert_true (vigil_store_get_audit_head (f->store, &recorded_id, &recorded, &error));
  tamper (f, "delete from audit where id >= 4");
  g_assert_true (vigil_store_verify_audit (f->store, NULL, &after_id, &after, &error));
  g_assert_no_error (error);
  g_assert_cmpint (after_id, <, recorded_id);
  g_assert_cmpstr (after, !=, recorded);
}

/* The audit head signed with a real Ed25519 key, as vigild does. */
static GBytes *
sign_statement (const gchar *statement, gpointer key, GError **error)
{
  return vigil_signing_key_sign (key, (const guint8 *) statement, strlen (statement), error);
}

static gboolean
verify_statement (const gchar *statement, GBytes *signature, gpointer key, GError **error)
{
  g_autofree gchar *pem = vigil_signing_key_get_public_pem (key);

  return vigil_signing_verify (pem, (const guint8 *) statement, strlen (statement), signature, error);
}

static VigilSigningKey *
sign_audit (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *path = g_build_filename (f->dir, "signing-key.pem", NULL);
  VigilSigningKey *key = vigil_signing_key_load_or_create (path, NULL, &error);

  g_assert_no_error (error);
  g_assert_true (vigil_store_set_audit_signer (f->store, sign_statement, verify_statement, key, &error));
  g_assert_no_error (error);
  return key;
}

static void
assert_audit_tampered (Fixture *f, const gchar *expected)
{
  g_autoptr(GError) error = NULL;

  g_assert_false (vigil_store_verify_audit (f->store, NULL, NULL, NULL, &error));
  g_assert_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_TAMPERED);
  if (strstr (error->message, expected) == NULL)
    g_error ("expected “%s” in: %s", expected, error->message);
}

/* With the head signed, what a valid chain alone cannot show is caught:
 * rows cut off the end, rows added by someone without the key (here a
 * second, unsigned store on the same file), a forged or removed
 * signature. */
static void
test_audit_signed_head (Fixture *f, gconstpointer unused)
{
  g_autoptr(VigilSigningKey) key = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilStore) intruder = NULL;
  gint64 n = 0;

  /* Destroyed before the key: the store's signer borrows it. */
  key = sign_audit (f);
  append_rows (f, 5);
  g_assert_true (vigil_store_verify_audit (f->store, &n, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (n, ==, 5);

  intruder = vigil_store_new (f->catalog, f->dir, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < 2; i++)
    g_assert_cmpint (vigil_store_append_audit (intruder, NOW, 0, "mallory", "incident-release", "incident 1",
                                               "{}", &error), >, 0);
  assert_audit_tampered (f, "the signed head is row 5 but the log ends at row 7");

  tamper (f, "delete from audit where id >= 4");
  assert_audit_tampered (f, "the signed head is row 5 but the log ends at row 3");
  tamper (f, "delete from audit where id = 3");
  g_assert_cmpint (vigil_store_append_audit (intruder, NOW, 0, "mallory", "incident-create", "incident 9",
                                             "{}", &error), ==, 3);
  tamper (f, "update audit_anchor set head_id = 3");
  assert_audit_tampered (f, "the log's last row 3 is not the one signed");
  /* Without the key, a head cannot be signed anew. */
  tamper (f, "update audit_anchor set head_sha256 = (select sha256 from audit where id = 3), "
             "signature = zeroblob (64)");
  assert_audit_tampered (f, "signature does not hold");
  tamper (f, "delete from audit_anchor");
  assert_audit_tampered (f, "the log's head is not signed");
  g_clear_object (&intruder);
  g_clear_object (&f->store);
}

/* A log from before heads were signed, or one that went on while vigild
 * had no key, is signed anew from a row that says so: the break stays on
 * record. Signing an intact log again adds nothing. */
static void
test_audit_signing_an_older_log_records_it (Fixture *f, gconstpointer unused)
{
  g_autoptr(VigilSigningKey) key = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) rows = NULL;
  const VigilAuditEntry *last;
  gint64 n = 0;

  append_rows (f, 3);
  g_test_expect_message ("vigil-storage", G_LOG_LEVEL_WARNING, "audit log: the log's head is not signed*");
  key = sign_audit (f);
  g_test_assert_expected_messages ();
  rows = vigil_store_list_audit (f->store, 0, 0, &error);
  g_assert_cmpuint (rows->len, ==, 4);
  last = rows->pdata[3];
  g_assert_cmpstr (last->action, ==, "audit-head-signed");
  g_assert_nonnull (strstr (last->details, "\"log_head_id\":3"));
  g_assert_true (vigil_store_verify_audit (f->store, &n, NULL, NULL, &error));
  g_assert_no_error (error);

  /* As at the next start: nothing to record. */
  g_assert_true (vigil_store_set_audit_signer (f->store, sign_statement, verify_statement, key, &error));
  g_assert_true (vigil_store_verify_audit (f->store, &n, NULL, NULL, &error));
  g_assert_cmpint (n, ==, 4);
  g_clear_object (&f->store);
}

/* A version-1 catalog from the recording base gains the new tables and
 * keeps its segments. */
static void
test_upgrade_from_version_1 (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  sqlite3 *db = NULL;

  add_segment_file (f, 0);
  g_clear_object (&f->store);
  g_assert_cmpint (sqlite3_open (f->catalog, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, "drop trigger cameras_totals_insert; drop trigger segments_totals_insert; "
                                 "drop trigger segments_totals_update; drop trigger segments_totals_delete; "
                                 "drop table camera_totals; drop index segments_in_flight; drop index runs_open; "
                                 "drop table audit_anchor; drop table alerts; drop table audit; drop table locks; "
                                 "drop table incident_notes; "
                                 "drop table incident_tags; drop table incident_cameras; drop table incidents; "
                                 "update version set version = 1", NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);
  f->store = vigil_store_new (f->catalog, f->dir, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (count_segments (f), ==, 1);
  add_incident (f, T0, 0, 0);
  append_rows (f, 1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("/storage/incidents/round-trip", test_incident_round_trip);
  ADD ("/storage/incidents/bad-input", test_incident_bad_input);
  ADD ("/storage/incidents/times-out-of-range", test_incident_times_out_of_range);
  ADD ("/storage/incidents/text-is-one-clean-line", test_incident_text_is_one_clean_line);
  ADD ("/storage/incidents/search", test_incident_search);
  ADD ("/storage/incidents/tags-and-cameras-bounded", test_incident_tags_and_cameras_bounded);
  ADD ("/storage/locks/locked-segment-outlives-retention", test_locked_segment_outlives_retention);
  ADD ("/storage/locks/open-and-expiring", test_open_and_expiring_locks);
  ADD ("/storage/audit/intact", test_audit_chain_intact);
  ADD ("/storage/audit/removed-row", test_audit_detects_removed_row);
  ADD ("/storage/audit/edited-row", test_audit_detects_edited_row);
  ADD ("/storage/audit/cut-tail-changes-head", test_audit_cut_tail_changes_head);
  ADD ("/storage/audit/signed-head", test_audit_signed_head);
  ADD ("/storage/audit/signing-an-older-log-records-it", test_audit_signing_an_older_log_records_it);
  ADD ("/storage/catalog/upgrade-from-1", test_upgrade_from_version_1);
  return g_test_run ();
}
