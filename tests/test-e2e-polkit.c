/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Who may call vigild, decided by the real polkitd with vigil's own
 * actions and rules file, on a private bus configured like the system bus
 * with vigil's bus policy. Callers are real processes run as other users
 * (setpriv). The test runs in a mount namespace of its own: its users and
 * groups (/etc/passwd, /etc/group) and polkit's action and rules folders
 * are bind-mounted there, so polkitd and vigild see them and the machine
 * itself is untouched. Needs root, polkitd, dbus-daemon and setpriv. */
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "vigil-test-polkit.h"
#include "vigil-test-util.h"
#include "vigil-test-vigild.h"

/* The sandbox's users (vigil-test-polkit.h), what their roles allow, and
 * nobody (no role). gid = uid. */
typedef struct {
  const gchar *name;
  guint        uid;
  const gchar *allowed[5];  /* actions its role has, NULL-terminated */
} TestUser;

static const TestUser operator = { "vigil-test-op", VIGIL_TEST_OPERATOR_UID,
                                   { "org.vigil.view", "org.vigil.operate", NULL } };
static const TestUser supervisor = { "vigil-test-sup", VIGIL_TEST_SUPERVISOR_UID,
                                     { "org.vigil.view", "org.vigil.operate", "org.vigil.export", "org.vigil.audit",
                                       NULL } };
static const TestUser admin = { "vigil-test-adm", VIGIL_TEST_ADMIN_UID,
                                { "org.vigil.view", "org.vigil.operate", "org.vigil.export", "org.vigil.audit",
                                  "org.vigil.admin" } };
static const TestUser nobody = { "nobody", 65534, { NULL } };

/* Why every test is skipped, when the sandbox cannot be made. */
static gchar *skip_reason;

typedef struct {
  VigilTestVigild v;
  VigilTestPolkit p;
} Fixture;

/* ---- vigild under polkit ----------------------------------------------- */

static void
fixture_set_up (Fixture *f, gconstpointer session)
{
  g_autoptr(GError) error = NULL;
  VigilSimcamOptions options = { .n_streams = 1, .width = 320, .height = 240, .fps = 10, .bitrate_kbps = 300,
                                 .gop_frames = 10, .clip_seconds = 4 };

  if (skip_reason != NULL)
    {
      g_test_skip (skip_reason);
      return;
    }
  vigil_test_vigild_set_up (&f->v, NULL, &options, 2, NULL, NULL, NULL);
  /* Callers write exports here; they may read and search the way to it. */
  g_assert_cmpint (g_chmod (f->v.dir, 0755), ==, 0);
  vigil_test_polkit_start (&f->p, f->v.dir);
  if (session != NULL)
    {
      /* vigild told the bus is its session bus: no polkit asked. */
      vigil_test_vigild_setenv (&f->v, "DBUS_SESSION_BUS_ADDRESS", f->p.address);
      f->v.connection = g_dbus_connection_new_for_address_sync (f->p.address,
                                                                G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
                                                                | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                                NULL, NULL, &error);
      g_assert_no_error (error);
    }
  else
    vigil_test_vigild_use_system_bus (&f->v, f->p.address);
  vigil_test_vigild_start (&f->v);
}

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  vigil_test_vigild_tear_down (&f->v);
  vigil_test_polkit_stop (&f->p);
}

/* ---- Calling as another user ------------------------------------------ */

/* Runs @argv (NULL-terminated, after the program) as @user on the test
 * bus; returns its exit status, stderr in @err. */
static gint
run_as (Fixture *f, const TestUser *user, gchar **err, const gchar *const *argv)
{
  g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func (g_free);
  const gchar *env[] = { "DBUS_SYSTEM_BUS_ADDRESS", f->p.address, NULL };

  g_ptr_array_add (all, g_strdup ("setpriv"));
  g_ptr_array_add (all, g_strdup_printf ("--reuid=%u", user->uid));
  g_ptr_array_add (all, g_strdup_printf ("--regid=%u", user->uid == nobody.uid ? 65534 : user->uid));
  g_ptr_array_add (all, g_strdup ("--init-groups"));
  for (guint i = 0; argv[i] != NULL; i++)
    g_ptr_array_add (all, g_strdup (argv[i]));
  g_ptr_array_add (all, NULL);
  return vigil_test_run_argv ((const gchar *const *) all->pdata, env, NULL, err);
}

/* Calls @method (Interface.Method) on @path as @user with gdbus, the
 * arguments in GVariant text; returns NULL when it succeeded, else its
 * error text. */
static gchar *
call_as_raw (Fixture *f, const TestUser *user, const gchar *path, const gchar *full_method,
             const gchar *const *args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  gchar *err = NULL;

  g_ptr_array_add (argv, (gpointer) "gdbus");
  g_ptr_array_add (argv, (gpointer) "call");
  g_ptr_array_add (argv, (gpointer) "--system");
  g_ptr_array_add (argv, (gpointer) "--timeout=120");
  g_ptr_array_add (argv, (gpointer) "--dest=org.vigil.Vigil1");
  g_ptr_array_add (argv, (gpointer) "--object-path");
  g_ptr_array_add (argv, (gpointer) path);
  g_ptr_array_add (argv, (gpointer) "--method");
  g_ptr_array_add (argv, (gpointer) full_method);
  for (guint i = 0; args != NULL && args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  if (run_as (f, user, &err, (const gchar *const *) argv->pdata) == 0)
    g_clear_pointer (&err, g_free);
  return err;
}

/* The same for a method of org.vigil.Vigil1.@method. */
static gchar *
call_as (Fixture *f, const TestUser *user, const gchar *path, const gchar *method, const gchar *const *args)
{
  g_autofree gchar *full_method = g_strconcat ("org.vigil.Vigil1.", method, NULL);

  return call_as_raw (f, user, path, full_method, args);
}

static gboolean
user_may (const TestUser *user, const gchar *action)
{
  for (guint i = 0; i < G_N_ELEMENTS (user->allowed) && user->allowed[i] != NULL; i++)
    if (g_str_equal (user->allowed[i], action))
      return TRUE;
  return FALSE;
}

/* Audit rows with @action by @uid (and, if given, with @detail in their details). */
static guint
count_audit (Fixture *f, const gchar *action, guint uid, const gchar *detail)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) rows = NULL;
  GVariantIter iter;
  gint64 row_uid;
  const gchar *row_action, *details;
  guint n = 0;

  g_assert_true (vigil_dbus_manager_call_list_audit_sync (f->v.manager, 0, 1000, &rows, NULL, &error));
  g_assert_no_error (error);
  g_variant_iter_init (&iter, rows);
  while (g_variant_iter_next (&iter, "(txx&s&s&s&s&s)", NULL, NULL, &row_uid, NULL, &row_action, NULL, &details,
                              NULL))
    if (row_uid == uid && g_str_equal (row_action, action) && (detail == NULL || strstr (details, detail) != NULL))
      n++;
  return n;
}

/* ---- Tests ------------------------------------------------------------- */

typedef struct {
  const gchar *path;           /* "manager", "camera", "incident", "export" */
  const gchar *method;
  const gchar *action;
  const gchar *args[8];
} MethodCase;

/* Every method vigild serves but the exports (their destination is a
 * descriptor gdbus cannot pass: vigilctl does those below), with
 * arguments of the right type; a permitted call may still fail for its
 * own reasons (a url= camera has no PTZ), but never for lack of rights. */
static const MethodCase methods[] = {
  { "manager", "Manager.GetStatus", "org.vigil.view", { NULL } },
  { "manager", "Manager.ListCameras", "org.vigil.view", { NULL } },
  { "manager", "Manager.ListIncidents", "org.vigil.view", { "{}", NULL } },
  { "manager", "Manager.ListAlerts", "org.vigil.view", { "false", "0", "10", NULL } },
  { "manager", "Manager.SelfCheck", "org.vigil.view", { NULL } },
  { "manager", "Manager.GetPublicKey", "org.vigil.view", { NULL } },
  { "manager", "Manager.GetIncident", "org.vigil.view", { "1", NULL } },
  { "manager", "Manager.CreateIncident", "org.vigil.operate",
    { "['cam0']", "1893456000000000", "1893456060000000", "'a fight'", "''", "@as []", "{}", NULL } },
  { "manager", "Manager.ListAudit", "org.vigil.audit", { "0", "10", NULL } },
  { "manager", "Manager.ListSessions", "org.vigil.audit", { NULL } },
  { "manager", "Manager.VerifyAudit", "org.vigil.audit", { NULL } },
  { "manager", "Manager.Fsck", "org.vigil.admin", { "{}", NULL } },
  { "camera", "Camera.ListSpans", "org.vigil.view", { "1893456000000000", "1893456060000000", NULL } },
  { "camera", "Camera.PtzGetStatus", "org.vigil.view", { NULL } },
  { "camera", "Camera.ListPresets", "org.vigil.view", { NULL } },
  { "camera", "Camera.PtzMove", "org.vigil.operate", { "0.5", "0.0", "0.0", "500", NULL } },
  { "camera", "Camera.PtzStop", "org.vigil.operate", { NULL } },
  { "camera", "Camera.PtzGoto", "org.vigil.operate", { "0.0", "0.0", "0.0", NULL } },
  { "camera", "Camera.PtzMoveBy", "org.vigil.operate", { "0.1", "0.0", "0.0", NULL } },
  { "camera", "Camera.GotoPreset", "org.vigil.operate", { "'door'", NULL } },
  { "camera", "Camera.SavePreset", "org.vigil.operate", { "'door'", NULL } },
  { "camera", "Camera.RemovePreset", "org.vigil.operate", { "'door'", NULL } },
  { "camera", "Camera.Retry", "org.vigil.operate", { NULL } },
  /* No descriptor travels: refused as InvalidArgument once permitted. */
  { "camera", "Camera.Snapshot", "org.vigil.view", { "0", "@h 0", NULL } },
  { "incident", "Incident.GetNotes", "org.vigil.view", { NULL } },
  { "incident", "Incident.AddNote", "org.vigil.operate", { "'seen leaving'", NULL } },
  { "incident", "Incident.AddTag", "org.vigil.operate", { "'police'", NULL } },
  { "incident", "Incident.RemoveTag", "org.vigil.operate", { "'police'", NULL } },
  { "incident", "Incident.Close", "org.vigil.operate", { "1893456090000000", NULL } },
  { "incident", "Incident.SetExpiry", "org.vigil.export", { "2208988800000000", NULL } },
  { "incident", "Incident.Release", "org.vigil.export", { "'case closed'", NULL } },
  { "export", "Export.Cancel", "org.vigil.export", { NULL } },
};

static gchar *
create_incident (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  const gchar *cameras[] = { "cam0", NULL };
  const gchar *no_tags[] = { NULL };
  gchar *path = NULL;
  gint64 now = g_get_real_time ();

  vigil_dbus_manager_call_create_incident_sync (f->v.manager, cameras, now - 60 * G_USEC_PER_SEC, 0, "test",
                                                "", no_tags, g_variant_new ("a{sv}", NULL), &path, NULL, &error);
  g_assert_no_error (error);
  return path;
}

/* An export by root (allowed everything), for an Export object to cancel. */
static gchar *
finished_export (Fixture *f)
{
  g_autofree gchar *out = NULL;
  gint status;

  vigil_test_vigild_wait_for_segments (&f->v, 2);
  status = vigil_test_run_argv ((const gchar *[]) { g_getenv ("VIGILCTL"), "export", "--camera", "cam0", "--from",
                                                    "-1m", "--to", "now", "--out", f->v.out, "--reason", "test",
                                                    NULL },
                                (const gchar *[]) { "DBUS_SYSTEM_BUS_ADDRESS", f->p.address, NULL }, &out, NULL);
  g_assert_cmpint (status, ==, 0);
  return g_strdup ("/org/vigil/Vigil1/Export/1");
}

/* Each role may call exactly the methods of its actions: every other call
 * is answered AccessDenied naming the action it lacks, and written to the
 * audit log with the caller's uid, the action and the method. */
static void
test_roles (Fixture *f, gconstpointer unused)
{
  const TestUser *users[] = { &nobody, &operator, &supervisor, &admin };
  g_autofree gchar *incident = NULL;
  g_autofree gchar *export = NULL;

  if (skip_reason != NULL)
    return;
  incident = create_incident (f);
  export = finished_export (f);

  for (gsize u = 0; u < G_N_ELEMENTS (users); u++)
    {
      const TestUser *user = users[u];
      guint refused = 0;

      for (gsize m = 0; m < G_N_ELEMENTS (methods); m++)
        {
          const MethodCase *c = &methods[m];
          const gchar *path = g_str_equal (c->path, "manager") ? "/org/vigil/Vigil1"
                              : g_str_equal (c->path, "camera") ? "/org/vigil/Vigil1/Camera/cam0"
                              : g_str_equal (c->path, "incident") ? incident : export;
          g_autofree gchar *err = call_as (f, user, path, c->method, c->args);
          gboolean denied = err != NULL && strstr (err, "org.vigil.Vigil1.Error.AccessDenied") != NULL;

          g_test_message ("%s %s: %s", user->name, c->method, err ? err : "ok");
          if (user_may (user, c->action))
            {
              if (denied)
                g_error ("%s was refused %s, which %s allows: %s", user->name, c->method, c->action, err);
            }
          else
            {
              if (!denied)
                g_error ("%s was not refused %s without %s: %s", user->name, c->method, c->action,
                         err ? err : "it succeeded");
              /* The refusal names the action, for the caller to ask for it. */
              g_assert_nonnull (strstr (err, c->action));
              refused++;
            }
        }
      /* Property reads, the object list and vigil's signals bypass the
       * authorize hook; the bus policy keeps them to the view role. */
      {
        g_autofree gchar *properties = call_as_raw (f, user, "/org/vigil/Vigil1/Camera/cam0",
                                                    "org.freedesktop.DBus.Properties.GetAll",
                                                    (const gchar *[]) { "org.vigil.Vigil1.Camera", NULL });
        g_autofree gchar *objects = call_as_raw (f, user, "/org/vigil/Vigil1",
                                                 "org.freedesktop.DBus.ObjectManager.GetManagedObjects", NULL);

        g_test_message ("%s GetAll: %s; GetManagedObjects: %s", user->name, properties ? properties : "ok",
                        objects ? objects : "ok");
        g_assert_true ((properties == NULL) == user_may (user, "org.vigil.view"));
        g_assert_true ((objects == NULL) == user_may (user, "org.vigil.view"));
      }
      /* Each refusal is in the audit log, with what was refused, up to
       * the 30 a minute vigild records per caller (see refusal-flood). */
      g_assert_cmpuint (count_audit (f, "access-denied", user->uid, NULL), ==, MIN (refused, 30));
      if (refused > 0)
        g_assert_cmpuint (count_audit (f, "access-denied", user->uid, "Manager.Fsck"), ==, 1);
    }
}

/* The exports, through vigilctl as each user (it opens the destination as
 * that user): supervisors and admins export into a folder of their own,
 * operators and nobody are told they may not, and no bundle appears. */
static void
test_export_roles (Fixture *f, gconstpointer unused)
{
  const TestUser *users[] = { &nobody, &operator, &supervisor, &admin };

  if (skip_reason != NULL)
    return;
  vigil_test_vigild_wait_for_segments (&f->v, 2);
  for (gsize u = 0; u < G_N_ELEMENTS (users); u++)
    {
      const TestUser *user = users[u];
      g_autofree gchar *dir = g_strdup_printf ("%s/out-%u", f->v.dir, user->uid);
      g_autofree gchar *err = NULL;
      g_autoptr(GDir) listing = NULL;
      gint status;

      g_assert_cmpint (g_mkdir (dir, 0700), ==, 0);
      g_assert_cmpint (chown (dir, user->uid, user->uid == nobody.uid ? 65534 : user->uid), ==, 0);
      status = run_as (f, user, &err,
                       (const gchar *[]) { g_getenv ("VIGILCTL"), "export", "--camera", "cam0", "--from", "-1m",
                                           "--to", "now", "--out", dir, "--reason", "role test", NULL });
      listing = g_dir_open (dir, 0, NULL);
      if (user_may (user, "org.vigil.export"))
        {
          g_assert_cmpint (status, ==, 0);
          g_assert_nonnull (g_dir_read_name (listing));
        }
      else
        {
          g_assert_cmpint (status, !=, 0);
          g_assert_nonnull (strstr (err, "org.vigil.export"));
          g_assert_null (g_dir_read_name (listing));
          g_assert_cmpuint (count_audit (f, "access-denied", user->uid, "Manager.ExportRange"), ==, 1);
        }
    }
}

/* A caller refused over and over fills neither the audit log nor the
 * log: the first 30 refusals a minute are recorded, the rest counted; vigild
 * keeps recording and answering. */
static void
test_refusal_flood (Fixture *f, gconstpointer unused)
{
  if (skip_reason != NULL)
    return;
  for (guint i = 0; i < 40; i++)
    {
      g_autofree gchar *err = call_as (f, &nobody, "/org/vigil/Vigil1", "Manager.GetStatus", NULL);
      g_assert_nonnull (err);
    }
  g_assert_cmpuint (count_audit (f, "access-denied", nobody.uid, NULL), ==, 30);
  vigil_test_vigild_wait_for_segments (&f->v, 1);
}

/* On a session bus nobody asks polkit: only vigild's own uid may call. */
static void
test_session_bus_owner_only (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *err = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) status = NULL;
  const gchar *authorization = NULL;

  if (skip_reason != NULL)
    return;
  err = call_as (f, &admin, "/org/vigil/Vigil1", "Manager.GetStatus", NULL);
  g_assert_nonnull (err);
  g_assert_nonnull (strstr (err, "org.vigil.Vigil1.Error.AccessDenied"));
  g_assert_nonnull (strstr (err, "session bus"));
  g_assert_true (vigil_dbus_manager_call_get_status_sync (f->v.manager, &status, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_variant_lookup (status, "authorization", "&s", &authorization));
  g_assert_nonnull (strstr (authorization, "uid 0"));
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  int status;

  /* Before GLib or GStreamer start a thread: unshare(CLONE_NEWNS) needs a
   * single-threaded process. */
  if (!vigil_test_polkit_enter_sandbox (&error))
    skip_reason = g_strdup_printf ("polkit sandbox: %s", error->message);
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/e2e/polkit/roles", Fixture, NULL, fixture_set_up, test_roles, fixture_tear_down);
  g_test_add ("/e2e/polkit/export-roles", Fixture, NULL, fixture_set_up, test_export_roles, fixture_tear_down);
  g_test_add ("/e2e/polkit/refusal-flood", Fixture, NULL, fixture_set_up, test_refusal_flood, fixture_tear_down);
  g_test_add ("/e2e/polkit/session-bus-owner-only", Fixture, "session", fixture_set_up,
              test_session_bus_owner_only, fixture_tear_down);
  status = g_test_run ();
  vigil_test_polkit_leave_sandbox ();
  g_free (skip_reason);
  return status;
}
