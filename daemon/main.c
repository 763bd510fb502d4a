/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vigild: options, logging and signals; everything else is VigilDaemon.
 * Exit status: 0 after a clean stop asked for by SIGTERM or SIGINT, 1 on a
 * runtime failure or any other stop, 2 on a bad configuration or command
 * line. */
#include <gio/gunixsocketaddress.h>
#include <glib-unix.h>
#include <gst/gst.h>
#include <locale.h>
#include <stdio.h>

#include "vigil-bus.h"
#include "vigil-config.h"
#include "vigil-daemon.h"
#include "vigil-text.h"

/* SIGTERM must see every open segment cataloged within 5 s; this is the
 * hard limit after which vigild exits anyway (recovery covers the rest). */
#define STOP_DEADLINE_S 5
/* A log line's message is cut after this many characters. */
#define LOG_MESSAGE_MAX_CHARS 2000

static gboolean verbose;
static gboolean use_session_bus;

static GLogWriterOutput
write_log (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  const gchar *domain = NULL, *message = NULL;
  const gchar *label;
  g_autofree gchar *shown = NULL;

  if ((level & G_LOG_LEVEL_DEBUG) && !verbose)
    return G_LOG_WRITER_HANDLED;
  for (gsize i = 0; i < n_fields; i++)
    {
      if (g_str_equal (fields[i].key, "GLIB_DOMAIN"))
        domain = fields[i].value;
      else if (g_str_equal (fields[i].key, "MESSAGE"))
        message = fields[i].value;
    }
  label = (level & G_LOG_LEVEL_ERROR) ? "error"
          : (level & G_LOG_LEVEL_CRITICAL) ? "critical"
          : (level & G_LOG_LEVEL_WARNING) ? "warning"
          : (level & G_LOG_LEVEL_DEBUG) ? "debug" : "info";
  /* One line per message, whatever it quotes: a newline, escape sequence
   * or bidirectional override in a caller's text cannot forge a line or
   * drive the reader's terminal, and a flood of huge arguments is cut. */
  shown = vigil_text_sanitize (message, LOG_MESSAGE_MAX_CHARS, VIGIL_TEXT_DEFAULT);
  fprintf (stderr, "vigild %s [%s] %s\n", label, domain ? domain : "vigil", shown);
  fflush (stderr);
  return G_LOG_WRITER_HANDLED;
}

typedef struct {
  GMainLoop    *loop;
  VigilDaemon  *daemon;
  gboolean      signalled;        /* stopping because of SIGTERM or SIGINT */
  gboolean      deadline_missed;
} Context;

static void
on_daemon_stopped (VigilDaemon *daemon, Context *context)
{
  g_main_loop_quit (context->loop);
}

static gboolean
on_stop_deadline (gpointer user_data)
{
  Context *context = user_data;

  g_warning ("not every camera stopped within %d s; exiting, recovery will finish at next start",
             STOP_DEADLINE_S);
  context->deadline_missed = TRUE;
  g_main_loop_quit (context->loop);
  return G_SOURCE_REMOVE;
}

static gboolean
on_signal (gpointer user_data)
{
  Context *context = user_data;

  if (context->signalled)
    return G_SOURCE_REMOVE;
  context->signalled = TRUE;
  g_message ("stopping: finalising open segments");
  vigil_daemon_stop (context->daemon);
  g_timeout_add_seconds (STOP_DEADLINE_S, on_stop_deadline, context);
  return G_SOURCE_REMOVE;
}

/* Administrators send SIGHUP to make a daemon re-read its configuration;
 * by default it would end vigild, and every recording with it. */
static gboolean
on_sighup (gpointer user_data)
{
  g_message ("SIGHUP: re-reading the configuration is not supported yet; ignored, recording goes on");
  return G_SOURCE_CONTINUE;
}

/* SIGUSR1 and SIGUSR2 mean nothing to vigild, and must not end it. */
static gboolean
on_sigusr (gpointer user_data)
{
  g_debug ("SIGUSR1 or SIGUSR2: ignored");
  return G_SOURCE_CONTINUE;
}

int
main (int argc, char **argv)
{
  g_autofree gchar *config_path = NULL;
  gboolean check_config = FALSE, version = FALSE;
  GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path, "Configuration file (default " VIGIL_CONFIG_DEFAULT_PATH ")", "PATH" },
    { "check-config", 0, 0, G_OPTION_ARG_NONE, &check_config, "Validate the configuration and exit", NULL },
    { "session", 0, 0, G_OPTION_ARG_NONE, &use_session_bus, "Serve D-Bus on the session bus (demo, tests) instead of the system bus", NULL },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Log debug messages too", NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) options = g_option_context_new ("- record RTSP cameras into a crash-safe catalog");
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilConfig) config = NULL;
  g_autoptr(VigilDaemon) daemon = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  Context context = { 0 };
  g_autoptr(VigilBus) bus = NULL;

  setlocale (LC_ALL, "");
  g_log_set_writer_func (write_log, NULL, NULL);
  g_option_context_add_main_entries (options, entries, NULL);
  g_option_context_add_group (options, gst_init_get_option_group ());
  if (!g_option_context_parse (options, &argc, &argv, &error))
    {
      fprintf (stderr, "vigild: %s\n", error->message);
      return 2;
    }
  if (version)
    {
      printf ("vigild %s\n", VIGIL_VERSION);
      return 0;
    }

  config = vigil_config_load (config_path ? config_path : VIGIL_CONFIG_DEFAULT_PATH, &error);
  if (config == NULL)
    {
      fprintf (stderr, "vigild: bad configuration:\n%s\n", error->message);
      return 2;
    }
  if (check_config)
    {
      printf ("%s: OK, %u camera%s\n", config->path, config->cameras->len, config->cameras->len == 1 ? "" : "s");
      return 0;
    }

  gst_init (NULL, NULL);
  /* GIO's socket types are set up here, before any camera or D-Bus
   * thread can race to do it (GLib 2.74 can deadlock on that; see
   * vigil-rtsp-source.c). */
  g_type_class_unref (g_type_class_ref (G_TYPE_INET_SOCKET_ADDRESS));
  g_type_class_unref (g_type_class_ref (G_TYPE_SOCKET_CLIENT));
  g_type_class_unref (g_type_class_ref (G_TYPE_UNIX_SOCKET_ADDRESS));
  daemon = vigil_daemon_new (config, &error);
  if (daemon == NULL)
    {
      g_warning ("%s", error->message);
      return 1;
    }
  loop = g_main_loop_new (NULL, FALSE);
  context.loop = loop;
  context.daemon = daemon;
  g_signal_connect (daemon, "stopped", G_CALLBACK (on_daemon_stopped), &context);
  g_unix_signal_add (SIGTERM, on_signal, &context);
  g_unix_signal_add (SIGINT, on_signal, &context);
  g_unix_signal_add (SIGHUP, on_sighup, &context);
  g_unix_signal_add (SIGUSR1, on_sigusr, &context);
  g_unix_signal_add (SIGUSR2, on_sigusr, &context);

  g_message ("vigild %s: %u cameras, recording to %s, catalog %s", VIGIL_VERSION, config->cameras->len,
             config->root, config->catalog);
  vigil_daemon_start (daemon);
  bus = vigil_bus_new (daemon, use_session_bus ? G_BUS_TYPE_SESSION : G_BUS_TYPE_SYSTEM);
  g_main_loop_run (loop);
  vigil_bus_stop (bus);
  g_clear_object (&bus);
  g_clear_object (&daemon);
  /* 0 only for a clean stop that was asked for: a service manager must
   * restart a vigild that stopped for any other reason. */
  if (!context.signalled)
    g_warning ("stopped without being asked to (no SIGTERM or SIGINT)");
  return context.signalled && !context.deadline_missed ? 0 : 1;
}
