/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz target: arbitrary arguments to every method vigild serves, through
 * the real VigilService and its objects on a peer-to-peer D-Bus connection
 * (the same handlers, checks, catalog writes and audit rows as on a bus;
 * cameras configured but not recording, so no network). The first byte
 * picks the method; the rest, read as that method's argument tuple in
 * GVariant's serialised form, is what the caller sends (GLib reads any
 * bytes as some value of the type, so every input is a well-typed call).
 *
 * Beyond "no crash, no leak, no warning": every call is answered, either
 * with a result or with an org.vigil.Vigil1.Error.* whose message says
 * what was wrong in one clean line of at most 500 characters. The exports
 * and Snapshot get a handle but no descriptor, so they must all be refused. */

#include <glib/gstdio.h>
#include <string.h>
#include <sys/socket.h>

#include "vigil-daemon.h"
#include "vigil-service.h"
#include "fuzz-common.h"

typedef struct {
  const gchar *path;
  const gchar *interface_name;
  const gchar *method;
  const gchar *in_type;
} Method;

#define MANAGER  "/org/vigil/Vigil1", "org.vigil.Vigil1.Manager"
#define CAMERA   "/org/vigil/Vigil1/Camera/cam0", "org.vigil.Vigil1.Camera"
#define INCIDENT "/org/vigil/Vigil1/Incident/1", "org.vigil.Vigil1.Incident"

static const Method methods[] = {
  { MANAGER, "GetStatus", "()" },
  { MANAGER, "ListCameras", "()" },
  { MANAGER, "CreateIncident", "(asxxssasa{sv})" },
  { MANAGER, "ListIncidents", "(a{sv})" },
  { MANAGER, "GetIncident", "(x)" },
  { MANAGER, "GetPublicKey", "()" },
  { MANAGER, "ListAudit", "(xu)" },
  { MANAGER, "VerifyAudit", "()" },
  { MANAGER, "ListAlerts", "(bxu)" },
  { MANAGER, "SelfCheck", "()" },
  { CAMERA, "PtzMove", "(dddu)" },
  { CAMERA, "PtzStop", "()" },
  { CAMERA, "PtzGoto", "(ddd)" },
  { CAMERA, "PtzMoveBy", "(ddd)" },
  { CAMERA, "PtzGetStatus", "()" },
  { CAMERA, "ListPresets", "()" },
  { CAMERA, "SavePreset", "(s)" },
  { CAMERA, "GotoPreset", "(s)" },
  { CAMERA, "RemovePreset", "(s)" },
  { CAMERA, "ListSpans", "(xx)" },
  { INCIDENT, "GetNotes", "()" },
  { INCIDENT, "AddNote", "(s)" },
  { INCIDENT, "AddTag", "(s)" },
  { INCIDENT, "RemoveTag", "(s)" },
  { INCIDENT, "Close", "(x)" },
  { INCIDENT, "Release", "(s)" },
  { INCIDENT, "SetExpiry", "(x)" },
  { "/org/vigil/Vigil1/Export/1", "org.vigil.Vigil1.Export", "Cancel", "()" },
  /* The destination is a handle into the message's descriptors; none
   * travel here, so every export must be refused before it writes. */
  { MANAGER, "ExportIncident", "(ohs)" },
  { MANAGER, "ExportRange", "(sxxhs)" },
  { MANAGER, "Fsck", "(a{sv})" },
  { CAMERA, "Retry", "()" },
  /* A handle with no descriptor again: refused before anything is decoded. */
  { CAMERA, "Snapshot", "(xh)" },
  { MANAGER, "ListSessions", "()" },
};

static gchar *dir;
static VigilDaemon *daemon_;
static VigilService *service;
static GDBusConnection *client;

typedef struct {
  GDBusConnection *connection;
  GError          *error;
  gboolean         done;
} Connecting;

static void
on_connected (GObject *source, GAsyncResult *result, gpointer data)
{
  Connecting *connecting = data;

  connecting->connection = g_dbus_connection_new_finish (result, &connecting->error);
  connecting->done = TRUE;
}

/* Both ends of a peer-to-peer D-Bus connection, set up concurrently (each
 * side's handshake waits for the other's). */
static void
connect_peers (GDBusConnection **server, GDBusConnection **client_end)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) a = NULL, b = NULL;
  g_autoptr(GSocketConnection) stream_a = NULL, stream_b = NULL;
  g_autofree gchar *guid = g_dbus_generate_guid ();
  Connecting ends[2] = { { 0 }, { 0 } };
  int fds[2];

  fuzz_check (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0, "socketpair");
  a = g_socket_new_from_fd (fds[0], &error);
  b = g_socket_new_from_fd (fds[1], &error);
  fuzz_check (a != NULL && b != NULL, "sockets");
  stream_a = g_socket_connection_factory_create_connection (a);
  stream_b = g_socket_connection_factory_create_connection (b);
  g_dbus_connection_new (G_IO_STREAM (stream_a), guid, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_SERVER, NULL, NULL,
                         on_connected, &ends[0]);
  g_dbus_connection_new (G_IO_STREAM (stream_b), NULL, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT, NULL, NULL,
                         on_connected, &ends[1]);
  while (!ends[0].done || !ends[1].done)
    g_main_context_iteration (NULL, TRUE);
  fuzz_check (ends[0].connection != NULL && ends[1].connection != NULL, "peer-to-peer D-Bus connection");
  *server = ends[0].connection;
  *client_end = ends[1].connection;
}

typedef struct {
  GVariant *reply;
  GError   *error;
  gboolean  done;
} Call;

static void
on_reply (GObject *source, GAsyncResult *result, gpointer data)
{
  Call *call = data;

  call->reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &call->error);
  call->done = TRUE;
}

/* Calls and waits on the main context: the service answers there too. */
static void
call_and_wait (const gchar *path, const gchar *interface_name, const gchar *method, GVariant *arguments, Call *call)
{
  g_dbus_connection_call (client, NULL, path, interface_name, method, arguments, NULL, G_DBUS_CALL_FLAGS_NONE,
                          60000, NULL, on_reply, call);
  while (!call->done)
    g_main_context_iteration (NULL, TRUE);
}

static void
clean_up (void)
{
  g_clear_object (&client);
  g_clear_object (&service);
  if (daemon_ != NULL)
    vigil_daemon_stop (daemon_);
  g_clear_object (&daemon_);
  /* Whatever the daemon's tasks still hold goes with them. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  if (dir != NULL)
    {
      g_autofree gchar *command = g_strdup_printf ("rm -rf '%s'", dir);
      (void) !system (command);
    }
  g_clear_pointer (&dir, g_free);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilConfig) config = NULL;
  g_autoptr(GDBusConnection) server = NULL;
  g_autofree gchar *conf_path = NULL, *conf = NULL, *root = NULL, *state = NULL;
  Call first = { 0 };

  fuzz_init ();
  dir = g_dir_make_tmp ("vigil-fuzz-dbus-XXXXXX", &error);
  fuzz_check (dir != NULL, "temporary folder");
  root = g_build_filename (dir, "recordings", NULL);
  state = g_build_filename (dir, "state", NULL);
  g_mkdir (root, 0700);
  g_mkdir (state, 0700);
  conf_path = g_build_filename (dir, "vigil.conf", NULL);
  /* A camera nothing answers on loopback for: it is never started
   * here, and its offline alert would come only after an hour. */
  conf = g_strdup_printf ("[storage]\nroot=%s\ncatalog=%s/catalog.db\n\n"
                          "[alerts]\nraise_after_seconds=3600\noffline_seconds=3600\n\n"
                          "[camera cam0]\nurl=rtsp://127.0.0.1:9/x\n",
                          root, state);
  fuzz_check (g_file_set_contents (conf_path, conf, -1, NULL), "config");
  config = vigil_config_load (conf_path, &error);
  fuzz_check (config != NULL, error != NULL ? error->message : "config");
  daemon_ = vigil_daemon_new (config, &error);
  fuzz_check (daemon_ != NULL, error != NULL ? error->message : "daemon");
  connect_peers (&server, &client);
  service = vigil_service_new (daemon_, server, VIGIL_AUTHORITY_OWNER, &error);
  fuzz_check (service != NULL, error != NULL ? error->message : "service");

  /* Incident 1, for the incident methods to work on. */
  call_and_wait ("/org/vigil/Vigil1", "org.vigil.Vigil1.Manager", "CreateIncident",
                 g_variant_new_parsed ("(['cam0'], %x, int64 0, 'fuzz', '', @as [], @a{sv} {})",
                                       g_get_real_time () - G_USEC_PER_SEC * 60),
                 &first);
  fuzz_check (first.reply != NULL, first.error != NULL ? first.error->message : "first incident");
  g_variant_unref (first.reply);
  atexit (clean_up);
  return 0;
}

/* An error a caller reads: vigil's own, one clean line, not too long. */
static void
check_error (const Method *method, GError *error)
{
  g_autofree gchar *name = g_dbus_error_get_remote_error (error);
  const gchar *message;

  if (name == NULL)
    fprintf (stderr, "%s.%s failed: %s\n", method->interface_name, method->method, error->message);
  fuzz_check (name != NULL, "an error that is not a D-Bus error");
  if (!g_str_has_prefix (name, "org.vigil.Vigil1.Error."))
    {
      fprintf (stderr, "%s.%s answered %s: %s\n", method->interface_name, method->method, name, error->message);
      fuzz_check (FALSE, "an error that is not vigil's");
    }
  g_dbus_error_strip_remote_error (error);
  message = error->message;
  if (g_getenv ("VIGIL_FUZZ_VERBOSE") != NULL)
    fprintf (stderr, "  %s: %s\n", method->method, message);
  fuzz_check (message[0] != '\0', "an error without a message");
  fuzz_check (g_utf8_validate (message, -1, NULL), "an error message that is not UTF-8");
  fuzz_check (g_utf8_strlen (message, -1) <= 500, "an error message over 500 characters");
  for (const gchar *p = message; *p != '\0'; p++)
    fuzz_check (!g_ascii_iscntrl (*p), "an error message with a control character");
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  const Method *method;
  g_autoptr(GBytes) bytes = NULL;
  GVariant *arguments;
  Call call = { 0 };

  if (size < 1)
    return 0;
  method = &methods[data[0] % G_N_ELEMENTS (methods)];
  bytes = g_bytes_new (data + 1, size - 1);
  arguments = g_variant_new_from_bytes (G_VARIANT_TYPE (method->in_type), bytes, FALSE);
  call_and_wait (method->path, method->interface_name, method->method, arguments, &call);
  if (call.reply != NULL)
    {
      fuzz_check (!g_str_has_prefix (method->method, "Export"), "an export without a destination was started");
      g_variant_unref (call.reply);
    }
  else if (!g_dbus_error_is_remote_error (call.error)
           && g_error_matches (call.error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT))
    {
      /* GVariant holds values D-Bus cannot carry (an empty tuple in a
       * variant): GDBus refuses to send them, so no caller can either. */
      g_clear_error (&call.error);
    }
  else
    {
      /* An Export object exists only once an export ran: none here. */
      if (g_str_equal (method->method, "Cancel")
          && g_dbus_error_is_remote_error (call.error)
          && strstr (call.error->message, "org.freedesktop.DBus.Error.UnknownMethod") != NULL)
        {
          g_clear_error (&call.error);
          return 0;
        }
      check_error (method, call.error);
      g_clear_error (&call.error);
    }
  return 0;
}
