/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Incidents at archive scale and under a flood, end to end: the real
 * vigild over a catalog holding far more incidents (with the longest
 * descriptions) than fit in one D-Bus message keeps its replies small,
 * still finds every incident, pages its lists, and refuses one caller's
 * flood of incidents and notes while recording and answering on. And an
 * incident still going, exported at once, holds video up to the request
 * although its camera's segments are a minute long. */
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "vigil-audit.h"
#include "vigil-dbus-generated.h"
#include "vigil-incidents.h"
#include "vigil-store.h"
#include "vigil-test-util.h"
#include "vigil-test-vigild.h"

#define S (G_GINT64_CONSTANT (1000000))
/* Incidents in the catalog before vigild starts: with 10,000-byte
 * descriptions, 30 MB, about what one GetManagedObjects reply could
 * carry before vigild kept only the recently used ones on the bus. */
#define ARCHIVE_INCIDENTS 3000
#define ARCHIVE_AUDIT_ROWS 1500
/* vigild's limits (daemon/vigil-service.c, vigil-manager-object.c). */
#define MAX_INCIDENT_OBJECTS 256
#define INCIDENT_BURST 20
#define CHANGE_BURST 60

static GTestDBus *bus;

typedef VigilTestVigild Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer archive)
{
  VigilSimcamOptions options = { .n_streams = 1, .width = 320, .height = 240, .fps = 10, .bitrate_kbps = 300,
                                 .gop_frames = 10, .clip_seconds = 4 };

  vigil_test_vigild_set_up (f, bus, &options, 2, NULL, NULL, NULL);
  if (archive != NULL)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(VigilStore) store = vigil_store_new (f->catalog, f->root, &error);
      g_autofree gchar *description = g_strnfill (10000, 'd');
      gchar *cameras[] = { (gchar *) "cam0", NULL };
      gint64 start_us = g_get_real_time () - 30 * 24 * 3600 * S;

      g_assert_no_error (error);
      g_assert_true (vigil_store_add_camera (store, "cam0", &error));
      for (guint i = 0; i < ARCHIVE_INCIDENTS; i++)
        {
          g_autoptr(VigilIncident) incident = vigil_incident_new ();

          incident->title = g_strdup_printf ("archived incident %u", i + 1);
          incident->description = g_strdup (description);
          incident->cameras = g_strdupv (cameras);
          incident->start_us = start_us + i * 60 * S;
          incident->end_us = incident->start_us + 30 * S;
          incident->created_us = incident->start_us;
          incident->created_user = g_strdup ("archive");
          g_assert_cmpint (vigil_store_add_incident (store, incident, &error), ==, i + 1);
          g_assert_no_error (error);
        }
      /* And a long audit log. */
      for (guint i = 0; i < ARCHIVE_AUDIT_ROWS; i++)
        {
          g_autofree gchar *target = g_strdup_printf ("incident %u", i + 1);

          g_assert_cmpint (vigil_store_append_audit (store, start_us + i * S, 0, "archive", "incident-create",
                                                     target, "{}", &error), >, 0);
          g_assert_no_error (error);
        }
    }
  vigil_test_vigild_start (f);
}

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  vigil_test_vigild_tear_down (f);
}

/* GetManagedObjects, whole: the reply a monitoring-room client reads first. */
static GVariant *
get_managed_objects (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  GVariant *reply;

  reply = g_dbus_connection_call_sync (f->connection, "org.vigil.Vigil1", "/org/vigil/Vigil1",
                                       "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", NULL,
                                       G_VARIANT_TYPE ("(a{oa{sa{sv}}})"), G_DBUS_CALL_FLAGS_NONE, 120000, NULL,
                                       &error);
  g_assert_no_error (error);
  return reply;
}

static guint
count_incident_objects (GVariant *objects)
{
  g_autoptr(GVariant) dict = g_variant_get_child_value (objects, 0);
  GVariantIter iter;
  const gchar *path;
  guint n = 0;

  g_variant_iter_init (&iter, dict);
  while (g_variant_iter_next (&iter, "{&o@a{sa{sv}}}", &path, NULL))
    n += g_str_has_prefix (path, "/org/vigil/Vigil1/Incident/");
  return n;
}

static gint
vigilctl (gchar **out, const gchar *first, ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  const gchar *env[] = { "DBUS_SESSION_BUS_ADDRESS", g_test_dbus_get_bus_address (bus), NULL };
  const gchar *arg;
  va_list args;

  g_ptr_array_add (argv, (gpointer) g_getenv ("VIGILCTL"));
  g_ptr_array_add (argv, (gpointer) "--session");
  va_start (args, first);
  for (arg = first; arg != NULL; arg = va_arg (args, const gchar *))
    g_ptr_array_add (argv, (gpointer) arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);
  return vigil_test_run_argv ((const gchar *const *) argv->pdata, env, out, NULL);
}

/* 3,000 incidents of 10 kB: the object list stays a few MB (it was over
 * 30 MB, and over 32 MiB the bus drops vigild), yet every incident is
 * still reachable: by id, through a paged list, and with vigilctl. */
static void
test_archive_scale (Fixture *f, gconstpointer unused)
{
  g_autoptr(GVariant) objects = get_managed_objects (f);
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilDBusIncident) oldest = NULL;
  g_auto(GStrv) page = NULL;
  g_autofree gchar *path = NULL;
  g_autofree gchar *out = NULL;
  g_auto(GStrv) lines = NULL;
  g_auto(GVariantBuilder) filter = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);

  g_test_message ("GetManagedObjects: %" G_GSIZE_FORMAT " bytes, %u incidents", g_variant_get_size (objects),
                  count_incident_objects (objects));
  g_assert_cmpuint (count_incident_objects (objects), ==, MAX_INCIDENT_OBJECTS);
  g_assert_cmpuint (g_variant_get_size (objects), <, 8 * 1024 * 1024);

  /* The oldest is not on the bus, but GetIncident brings it. */
  g_assert_true (vigil_dbus_manager_call_get_incident_sync (f->manager, 1, &path, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (path, ==, "/org/vigil/Vigil1/Incident/1");
  oldest = vigil_dbus_incident_proxy_new_sync (f->connection, G_DBUS_PROXY_FLAGS_NONE, "org.vigil.Vigil1", path,
                                               NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (vigil_dbus_incident_get_title (oldest), ==, "archived incident 1");
  g_assert_false (vigil_dbus_manager_call_get_incident_sync (f->manager, ARCHIVE_INCIDENTS + 1, &path, NULL,
                                                             &error));
  vigil_test_assert_dbus_error (error, "org.vigil.Vigil1.Error.UnknownIncident");
  g_clear_error (&error);

  /* Lists are pages of at most 100; a second page goes on from the first. */
  g_variant_builder_add (&filter, "{sv}", "limit", g_variant_new_uint32 (101));
  g_assert_false (vigil_dbus_manager_call_list_incidents_sync (f->manager, g_variant_builder_end (&filter), &page,
                                                               NULL, &error));
  vigil_test_assert_dbus_error (error, "org.vigil.Vigil1.Error.InvalidArgument");
  g_clear_error (&error);
  g_variant_builder_init (&filter, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&filter, "{sv}", "offset", g_variant_new_uint32 (ARCHIVE_INCIDENTS - 2));
  g_assert_true (vigil_dbus_manager_call_list_incidents_sync (f->manager, g_variant_builder_end (&filter), &page,
                                                              NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (page), ==, 2);
  g_assert_cmpstr (page[1], ==, "/org/vigil/Vigil1/Incident/1");

  /* vigilctl pages through for the operator, oldest included. */
  g_assert_cmpint (vigilctl (&out, "incident", "list", "--limit", "250", NULL), ==, 0);
  lines = g_strsplit (g_strstrip (out), "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 251);   /* a heading and 250 rows */
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (vigilctl (&out, "incident", "show", "2", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "archived incident 2"));

  /* The audit log comes at most 1000 rows a call, the newest. */
  {
    g_autoptr(GVariant) rows = NULL;
    guint64 last_id = 0;

    g_assert_false (vigil_dbus_manager_call_list_audit_sync (f->manager, 0, 1001, &rows, NULL, &error));
    vigil_test_assert_dbus_error (error, "org.vigil.Vigil1.Error.InvalidArgument");
    g_clear_error (&error);
    g_assert_true (vigil_dbus_manager_call_list_audit_sync (f->manager, 0, 0, &rows, NULL, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (g_variant_n_children (rows), ==, 1000);
    g_variant_get_child (rows, 999, "(txxsssss)", &last_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
    g_assert_cmpuint (last_id, >=, ARCHIVE_AUDIT_ROWS);
  }

  /* Still few objects after all that. */
  g_clear_pointer (&objects, g_variant_unref);
  objects = get_managed_objects (f);
  g_assert_cmpuint (count_incident_objects (objects), <=, MAX_INCIDENT_OBJECTS);
}

/* One caller marking incidents and notes as fast as it can: the first
 * burst is taken, the rest refused with RateLimited saying when to try
 * again; vigild records and answers throughout. */
static void
test_flood_is_refused (Fixture *f, gconstpointer unused)
{
  const gchar *cameras[] = { "cam0", NULL };
  const gchar *no_tags[] = { NULL };
  g_autoptr(GError) error = NULL;
  g_autofree gchar *first = NULL;
  g_autoptr(VigilDBusIncident) incident = NULL;
  g_autoptr(GVariant) notes = NULL;
  guint created = 0, refused = 0, noted = 0;
  guint completed;

  for (guint i = 0; i < INCIDENT_BURST + 10; i++)
    {
      g_autofree gchar *path = NULL;
      g_autofree gchar *title = g_strdup_printf ("flood %u", i);

      if (vigil_dbus_manager_call_create_incident_sync (f->manager, cameras, g_get_real_time () - 10 * S, 0, title,
                                                        "", no_tags, g_variant_new ("a{sv}", NULL), &path, NULL,
                                                        &error))
        {
          created++;
          if (first == NULL)
            first = g_steal_pointer (&path);
          continue;
        }
      vigil_test_assert_dbus_error (error, "org.vigil.Vigil1.Error.RateLimited");
      g_assert_nonnull (strstr (error->message, "try again in"));
      g_clear_error (&error);
      refused++;
    }
  /* One more may have been earned back while the calls went out. */
  g_assert_cmpuint (created, >=, INCIDENT_BURST);
  g_assert_cmpuint (created, <=, INCIDENT_BURST + 1);
  g_assert_cmpuint (refused, ==, INCIDENT_BURST + 10 - created);

  incident = vigil_dbus_incident_proxy_new_sync (f->connection, G_DBUS_PROXY_FLAGS_NONE, "org.vigil.Vigil1", first,
                                                 NULL, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < CHANGE_BURST + 10; i++)
    {
      g_autofree gchar *text = g_strdup_printf ("note %u", i);

      if (vigil_dbus_incident_call_add_note_sync (incident, text, NULL, &error))
        {
          noted++;
          continue;
        }
      vigil_test_assert_dbus_error (error, "org.vigil.Vigil1.Error.RateLimited");
      g_clear_error (&error);
    }
  g_assert_cmpuint (noted, >=, CHANGE_BURST);
  g_assert_cmpuint (noted, <=, CHANGE_BURST + 1);
  /* The notes are there, read on demand; the property only counts them. */
  g_assert_true (vigil_dbus_incident_call_get_notes_sync (incident, &notes, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_variant_n_children (notes), ==, noted);

  /* Recording and answering went on. */
  completed = f->segments_completed;
  vigil_test_vigild_wait_for_segments (f, 1);
  g_assert_cmpuint (f->segments_completed, >, completed);
}

static void
long_segments_set_up (Fixture *f, gconstpointer unused)
{
  VigilSimcamOptions options = { .n_streams = 1, .width = 320, .height = 240, .fps = 10, .bitrate_kbps = 300,
                                 .gop_frames = 10, .clip_seconds = 4 };

  vigil_test_vigild_set_up (f, bus, &options, 60, NULL, NULL, NULL);
  vigil_test_vigild_start (f);
}

typedef struct {
  VigilDBusCamera *camera;
  gint64           since_us;   /* wall clock when it was first seen recording */
} RecordingWait;

/* The camera has been recording for a few seconds. */
static gboolean
recording_a_while (gpointer data)
{
  RecordingWait *wait = data;

  if (g_strcmp0 (vigil_dbus_camera_get_state (wait->camera), "recording") != 0)
    return FALSE;
  if (wait->since_us == 0)
    wait->since_us = g_get_real_time ();
  return g_get_real_time () - wait->since_us >= 4 * S;
}

/* "The last minutes, while the person is still in view": an open incident
 * exported at once holds video up to within two seconds of the request,
 * though the camera's 60 s segment was still being written (before, it
 * held nothing: no segment had closed yet). */
static void
test_export_reaches_up_to_now (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilDBusCamera) camera = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree gchar *out = NULL, *manifest = NULL, *id = NULL;
  RecordingWait wait = { 0 };
  JsonObject *actual;
  g_autoptr(GDateTime) to = NULL;
  gint64 asked_us, to_us;

  camera = vigil_dbus_camera_proxy_new_sync (f->connection, G_DBUS_PROXY_FLAGS_NONE, "org.vigil.Vigil1",
                                             "/org/vigil/Vigil1/Camera/cam0", NULL, &error);
  g_assert_no_error (error);
  wait.camera = camera;
  g_assert_true (vigil_test_wait_until (recording_a_while, &wait, 90));
  g_assert_cmpint (vigilctl (&out, "incident", "create", "cam0", "--from", "-3s", "--title", "still in view",
                             NULL), ==, 0);
  id = g_strdup (g_strstrip (out));
  g_clear_pointer (&out, g_free);
  asked_us = g_get_real_time ();
  /* The timeline too reaches up to now, no segment having closed yet. */
  {
    g_autoptr(GVariant) spans = NULL, gaps = NULL;
    gint64 span_start_us = 0, span_end_us = 0;

    g_assert_true (vigil_dbus_camera_call_list_spans_sync (camera, asked_us - 10 * S, asked_us + 5 * S, &spans, &gaps,
                                                           NULL, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (g_variant_n_children (spans), ==, 1);
    g_variant_get_child (spans, 0, "(xx)", &span_start_us, &span_end_us);
    g_test_message ("timeline: recorded up to %.2f s before asking", (asked_us - span_end_us) / 1e6);
    g_assert_cmpint (span_end_us, >=, asked_us - S);
    /* No gap where the camera is recording: only before it began, and
     * after now. */
    for (gsize i = 0; i < g_variant_n_children (gaps); i++)
      {
        gint64 gap_start_us = 0, gap_end_us = 0;

        g_variant_get_child (gaps, i, "(xx&s)", &gap_start_us, &gap_end_us, NULL);
        g_assert_true (gap_end_us <= span_start_us || gap_start_us >= asked_us - S);
      }
  }
  g_assert_cmpint (vigilctl (&out, "export", id, "--out", f->out, "--reason", "police, now", NULL), ==, 0);
  manifest = g_build_filename (g_strstrip (out), "manifest.json", NULL);
  g_assert_true (json_parser_load_from_file (parser, manifest, &error));
  g_assert_no_error (error);
  actual = json_object_get_object_member (
    json_array_get_object_element (json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)),
                                                                 "cameras"), 0),
    "actual");
  to = g_date_time_new_from_iso8601 (json_object_get_string_member (actual, "to"), NULL);
  g_assert_nonnull (to);
  to_us = g_date_time_to_unix (to) * S + g_date_time_get_microsecond (to);
  g_test_message ("video up to %.2f s before the request", (asked_us - to_us) / 1e6);
  g_assert_cmpint (to_us, >=, asked_us - 2 * S);
}

int
main (int argc, char **argv)
{
  int status;

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (bus);
  g_test_add ("/e2e/incidents/archive-scale", Fixture, "archive", fixture_set_up, test_archive_scale,
              fixture_tear_down);
  g_test_add ("/e2e/incidents/flood-is-refused", Fixture, NULL, fixture_set_up, test_flood_is_refused,
              fixture_tear_down);
  g_test_add ("/e2e/incidents/export-reaches-up-to-now", Fixture, NULL, long_segments_set_up,
              test_export_reaches_up_to_now, fixture_tear_down);
  status = g_test_run ();
  g_test_dbus_down (bus);
  g_clear_object (&bus);
  return status;
}
