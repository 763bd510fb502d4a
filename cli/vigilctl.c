/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vigilctl: the operator's command line over vigild's D-Bus interface
 * (dbus/org.vigil.Vigil1.xml), plus checking an export bundle locally.
 * It talks to vigild only through the generated VigilDBus* proxies and
 * never opens the catalog, the recordings or anything else of vigild's
 * itself; it links neither GStreamer nor SQLite. Human output is plain
 * aligned text with every control character from the daemon or a bundle
 * replaced, so a title cannot drive the terminal; --json prints one JSON
 * document on stdout instead. Errors are one line on stderr.
 * Exit status: 0 done, 1 vigild refused or failed (or a bundle or the
 * audit log did not verify), 2 bad command line, 3 vigild not reachable. */
#include <locale.h>
#include <stdio.h>

#include "vigilctl-private.h"

static void
ctl_clear (Ctl *ctl)
{
  g_clear_pointer (&ctl->command, g_free);
  g_clear_object (&ctl->manager);
  g_clear_object (&ctl->bus);
}

static const Command commands[] = {
  { "cameras", "", cmd_cameras },
  { "camera", "retry CAM", cmd_camera },
  { "status", "", cmd_status },
  { "spans", "CAM --from T --to T", cmd_spans },
  { "snapshot", "CAM [--at T] -o FILE.jpg [--force]", cmd_snapshot },
  { "live", "CAM [--sub | --from T] [--open]", cmd_live },
  { "sessions", "", cmd_sessions },
  { "incident", "create|list|show|note|tag|untag|close|release|expire …", cmd_incident },
  { "export", "ID --out DIR --reason TEXT", cmd_export },
  { "export", "--camera CAM --from T --to T --out DIR --reason TEXT", NULL },
  { "verify", "BUNDLE", cmd_verify },
  { "audit", "[--since T] [--limit N] [--verify]", cmd_audit },
  { "key", "", cmd_key },
  { "alerts", "[--open] [--since T] [--limit N]", cmd_alerts },
  { "selfcheck", "", cmd_selfcheck },
  { "fsck", "[--repair]", cmd_fsck },
  { "ptz", "CAM left|right|up|down|zoom-in|zoom-out|stop|goto|move-by|status|presets|preset …", cmd_ptz },
  { "discover", "[--timeout MS] [--target HOST:PORT]", cmd_discover },
  { NULL }
};

/* One line each for vigilctl --help, in the order of commands[]. */
static const gchar *const command_summaries[] = {
  "the cameras: state, recording since, last segment, bitrate, fps, stored",
  "try a camera now that waits (refused login, busy), after fixing its password",
  "vigild's health at a glance",
  "a camera's recorded stretches and the gaps between them",
  "a JPEG of a camera's picture, now or at a recorded moment",
  "the rtsp:// address to watch a camera live or recorded in any player",
  "who is watching over RTSP now, what and since when",
  "mark incidents (locking their recording), annotate, close, release, list",
  "export an incident into a signed bundle folder, and wait for it",
  "export one camera's range the same way",
  "check a bundle folder here, without vigild",
  "the audit log of every change; --verify checks its hash chain",
  "the recorder's public key and its fingerprint",
  "recording-health, picture and storage alerts",
  "the shift-start checklist: every camera and the storage, ✓ or ✗",
  "check the whole catalog against the recordings on disk; --repair fixes it",
  "turn a PTZ camera, send it to a preset, save presets",
  "find ONVIF cameras on the network, with a config snippet for each",
};

static gchar *
main_description (void)
{
  GString *text = g_string_new ("Commands:\n");

  for (guint i = 0; commands[i].name != NULL; i++)
    g_string_append_printf (text, "  %s%s%s\n      %s\n", commands[i].name, commands[i].synopsis[0] != '\0' ? " " : "",
                            commands[i].synopsis, command_summaries[i]);
  g_string_append (text, "\n" TIME_FORMS "\n\n"
                   "Run vigilctl COMMAND --help for a command's options.\n"
                   "Exit status: 0 done, 1 vigild refused or failed, or verification failed,\n"
                   "2 bad command line, 3 vigild not reachable on the bus.");
  return g_string_free (text, FALSE);
}

int
main (int argc, char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new ("COMMAND [ARG…]");
  g_autoptr(GError) error = NULL;
  g_autofree gchar *description = main_description ();
  Ctl ctl = { 0 };
  int status = EXIT_USAGE;

  setlocale (LC_ALL, "");
  g_set_prgname ("vigilctl");
  g_option_context_set_summary (context, "Operate vigild, the video recorder, over D-Bus.");
  g_option_context_set_description (context, description);
  g_option_context_add_main_entries (context, global_entries, NULL);
  /* Stop at the command: what follows is the command's to parse. */
  g_option_context_set_strict_posix (context, TRUE);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return usage (&ctl, "%s", error->message);
  if (argc < 2)
    return usage (&ctl, "which command? (cameras, camera, status, spans, snapshot, live, sessions, incident, export, verify, audit, key, alerts, selfcheck, fsck, "
                         "ptz, discover)");
  if (g_str_equal (argv[1], "help"))
    {
      g_autofree gchar *help = g_option_context_get_help (context, TRUE, NULL);

      fputs (help, stdout);
      return EXIT_OK;
    }

  for (guint i = 0; commands[i].name != NULL; i++)
    if (commands[i].run != NULL && g_str_equal (argv[1], commands[i].name))
      {
        ctl.command = g_strdup (argv[1]);
        status = commands[i].run (&ctl, argc - 1, argv + 1);
        ctl_clear (&ctl);
        return status;
      }
  return usage (&ctl, "unknown command “%s”", argv[1]);
}
