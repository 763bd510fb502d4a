/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vigil-simcam: VigilSimcam as a program, for benchmarks and manual runs.
 * It prints one URL per stream (then, with --onvif-port, the ONVIF device URL
 * and, with --discovery-port, "discovery 127.0.0.1:PORT") and "ready", then takes one command per line
 * on stdin and answers each with exactly one line ("ok", "error: <why>" or a
 * number), so a driving script can read answers in lock step. It must stay a
 * thin shell over vigil-simcam.c: all behaviour belongs in the library. */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib-unix.h>
#include <gst/gst.h>
#include <gst/rtsp-server/rtsp-server.h>

#include "vigil-simcam.h"
#include "vigil-simcam-onvif.h"

typedef struct {
  VigilSimcam *simcam;
  VigilSimcamOnvif *onvif;   /* NULL without --onvif-port */
  GMainLoop   *loop;
  guint        stdin_id;   /* 0 once stdin is closed or ignored */
} App;

static void
reply (const gchar *format, ...) G_GNUC_PRINTF (1, 2);

static void
reply (const gchar *format, ...)
{
  va_list args;

  va_start (args, format);
  vprintf (format, args);
  va_end (args);
  putchar ('\n');
  fflush (stdout);
}

static gboolean
parse_size (const gchar *text, guint *width, guint *height)
{
  guint64 w, h;
  gchar *end;

  if (text == NULL)
    return FALSE;
  w = g_ascii_strtoull (text, &end, 10);
  if (end == text || (*end != 'x' && *end != 'X'))
    return FALSE;
  text = end + 1;
  h = g_ascii_strtoull (text, &end, 10);
  if (end == text || *end != '\0' || w == 0 || h == 0 || w > G_MAXUINT || h > G_MAXUINT)
    return FALSE;
  *width = w;
  *height = h;
  return TRUE;
}

/* The password is the first line of @path, without its line end; a file
 * keeps it out of the process list and shell history. */
static gchar *
read_password (const gchar *path, GError **error)
{
  g_autofree gchar *contents = NULL;

  if (!g_file_get_contents (path, &contents, NULL, error))
    return NULL;
  contents[strcspn (contents, "\r\n")] = '\0';
  if (contents[0] == '\0')
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   "the first line of %s, the password, is empty", path);
      return NULL;
    }
  return g_steal_pointer (&contents);
}

#define PICTURES "normal|black|white|frozen|blurred|covered|reaimed|night|static"

/* The stream index argument, answering the error itself when it is bad. */
static gboolean
parse_index (App *app, gchar **argv, guint argc, guint *index)
{
  guint64 value;

  if (argc < 2 || !g_ascii_string_to_unsigned (argv[1], 10, 0,
                                                vigil_simcam_get_n_streams (app->simcam) - 1,
                                                &value, NULL))
    {
      reply ("error: expected a stream index below %u",
             vigil_simcam_get_n_streams (app->simcam));
      return FALSE;
    }
  *index = value;
  return TRUE;
}

static void
run_command (App *app, const gchar *line)
{
  g_auto(GStrv) argv = g_strsplit_set (line, " \t", -1);
  g_autoptr(GPtrArray) words = g_ptr_array_new ();
  gchar **args;
  guint argc, index, width, height;
  VigilSimcamPicture picture;
  g_autoptr(GError) error = NULL;

  for (guint i = 0; argv[i] != NULL; i++)
    if (argv[i][0] != '\0')
      g_ptr_array_add (words, argv[i]);
  if (words->len == 0)
    return;  /* blank lines get no answer */
  g_ptr_array_add (words, NULL);
  args = (gchar **) words->pdata;
  argc = words->len - 1;

  if (g_str_equal (args[0], "drop") || g_str_equal (args[0], "stall") ||
      g_str_equal (args[0], "video-stall") || g_str_equal (args[0], "keyframes-only") ||
      g_str_equal (args[0], "restore"))
    {
      VigilSimcamFault fault = g_str_equal (args[0], "drop")          ? VIGIL_SIMCAM_FAULT_DROP
                               : g_str_equal (args[0], "stall")       ? VIGIL_SIMCAM_FAULT_STALL
                               : g_str_equal (args[0], "video-stall") ? VIGIL_SIMCAM_FAULT_VIDEO_STALL
                               : g_str_equal (args[0], "keyframes-only") ? VIGIL_SIMCAM_FAULT_KEYFRAMES_ONLY
                                                                      : VIGIL_SIMCAM_FAULT_NONE;

      if (!parse_index (app, args, argc, &index))
        return;
      vigil_simcam_set_fault (app->simcam, index, fault);
      reply ("ok");
    }
  else if (g_str_equal (args[0], "offline") || g_str_equal (args[0], "online"))
    {
      if (vigil_simcam_set_offline_full (app->simcam, g_str_equal (args[0], "offline"), &error))
        reply ("ok");
      else
        reply ("error: %s", error->message);
    }
  else if (g_str_equal (args[0], "resolution"))
    {
      if (!parse_index (app, args, argc, &index))
        return;
      if (argc < 3 || !parse_size (args[2], &width, &height))
        reply ("error: expected resolution K WxH");
      else if (vigil_simcam_set_resolution (app->simcam, index, width, height, &error))
        reply ("ok");
      else
        reply ("error: %s", error->message);
    }
  else if (g_str_equal (args[0], "picture"))
    {
      if (!parse_index (app, args, argc, &index))
        return;
      if (argc < 3 || !vigil_simcam_picture_from_string (args[2], &picture))
        reply ("error: expected picture K " PICTURES);
      else if (vigil_simcam_set_picture (app->simcam, index, picture, &error))
        reply ("ok");
      else
        reply ("error: %s", error->message);
    }
  else if (g_str_equal (args[0], "ptz") || g_str_equal (args[0], "get-ptz"))
    {
      gdouble position[3] = { 0, 0, 0 };
      gboolean valid = TRUE;

      if (!parse_index (app, args, argc, &index))
        return;
      if (!vigil_simcam_has_ptz (app->simcam, index))
        {
          reply ("error: stream %u is not a PTZ camera (run with --ptz)", index);
          return;
        }
      if (g_str_equal (args[0], "get-ptz"))
        {
          vigil_simcam_get_ptz (app->simcam, index, &position[0], &position[1], &position[2]);
          reply ("%.3f %.3f %.3f", position[0], position[1], position[2]);
          return;
        }
      for (guint i = 0; i < 3 && valid; i++)
        {
          gchar *end = NULL;

          valid = 2 + i < argc && (position[i] = g_ascii_strtod (args[2 + i], &end), *end == '\0') &&
                  end != args[2 + i] && !isnan (position[i]);
        }
      if (!valid)
        reply ("error: expected ptz K PAN TILT ZOOM (pan and tilt -1..1, zoom 0..1)");
      else
        {
          vigil_simcam_set_ptz (app->simcam, index, position[0], position[1], position[2]);
          reply ("ok");
        }
    }
  else if (g_str_equal (args[0], "clients"))
    {
      if (!parse_index (app, args, argc, &index))
        return;
      reply ("%u", vigil_simcam_get_n_clients (app->simcam, index));
    }
  else if (g_str_equal (args[0], "auth-failures"))
    {
      reply ("%u", vigil_simcam_get_n_auth_failures (app->simcam));
    }
  else if (g_str_equal (args[0], "quit"))
    {
      reply ("ok");
      g_main_loop_quit (app->loop);
    }
  else
    {
      reply ("error: unknown command '%s' (drop K, stall K, video-stall K, keyframes-only K, restore K, offline, online, "
             "resolution K WxH, picture K NAME, ptz K PAN TILT ZOOM, get-ptz K, clients K, "
             "auth-failures, quit)", args[0]);
    }
}

static gboolean
on_stdin (GIOChannel *channel, GIOCondition condition, gpointer user_data)
{
  App *app = user_data;
  g_autofree gchar *line = NULL;
  g_autoptr(GError) error = NULL;
  gsize terminator;
  GIOStatus status;

  status = g_io_channel_read_line (channel, &line, NULL, &terminator, &error);
  if (status == G_IO_STATUS_AGAIN)
    return G_SOURCE_CONTINUE;
  if (status != G_IO_STATUS_NORMAL)
    {
      /* EOF (or a broken pipe) means whoever drove us is gone. */
      if (error != NULL)
        g_printerr ("vigil-simcam: stdin: %s\n", error->message);
      g_main_loop_quit (app->loop);
      app->stdin_id = 0;
      return G_SOURCE_REMOVE;
    }
  line[terminator] = '\0';
  run_command (app, line);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_signal (gpointer user_data)
{
  App *app = user_data;

  g_main_loop_quit (app->loop);
  return G_SOURCE_CONTINUE;
}

/* Runs on the ONVIF device's thread; vigil_simcam_set_ptz() is thread-safe. */
static void
on_onvif_moved (gdouble pan, gdouble tilt, gdouble zoom, gpointer simcam)
{
  vigil_simcam_set_ptz (simcam, 0, pan, tilt, zoom);
}

int
main (int argc, char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GIOChannel) in = NULL;
  g_autofree gchar *size = NULL;
  g_autofree gchar *clip_cache = NULL;
  g_autofree gchar *clip_file = NULL;
  g_autofree gchar *user = NULL;
  g_autofree gchar *password_file = NULL;
  g_autofree gchar *auth = NULL;
  g_autofree gchar *password = NULL;
  g_autofree gchar *codec = NULL;
  g_autofree gchar *audio = NULL;
  g_autofree gchar *picture = NULL;
  gint streams = 1, port = 8554, fps = 0, bitrate = 0, gop = 0, seconds = 0;
  gboolean no_stdin = FALSE;
  gboolean ptz = FALSE;
  gint onvif_port = -1, clock_offset = 0, discovery_port = -1;
  g_autofree gchar *onvif_user = NULL;
  g_autofree gchar *onvif_password_file = NULL;
  g_autofree gchar *onvif_password = NULL;
  g_autofree gchar *onvif_auth = NULL;
  g_auto(GStrv) quirks = NULL;
  VigilSimcamOnvifOptions onvif_options = { 0 };
  VigilSimcamOptions options = { 0 };
  App app = { NULL };
  guint sigint_id, sigterm_id;
  GOptionEntry entries[] = {
    { "streams", 'n', 0, G_OPTION_ARG_INT, &streams, "Number of streams, /cam0.. (default 1)", "N" },
    { "port", 'p', 0, G_OPTION_ARG_INT, &port, "TCP port on 127.0.0.1, 0 for any (default 8554)", "P" },
    { "size", 's', 0, G_OPTION_ARG_STRING, &size, "Clip size (default 640x360)", "WxH" },
    { "fps", 0, 0, G_OPTION_ARG_INT, &fps, "Frames per second (default 25)", "FPS" },
    { "bitrate", 'b', 0, G_OPTION_ARG_INT, &bitrate, "Target bitrate (default 1000)", "KBPS" },
    { "gop", 'g', 0, G_OPTION_ARG_INT, &gop, "Keyframe interval in frames (default: fps)", "FRAMES" },
    { "seconds", 0, 0, G_OPTION_ARG_INT, &seconds, "Clip length before it loops (default 10)", "S" },
    { "clip-file", 0, 0, G_OPTION_ARG_FILENAME, &clip_file,
      "Serve this H.264/H.265 elementary stream (another encoder's) instead of a clip of our own", "FILE" },
    { "clip-cache", 0, 0, G_OPTION_ARG_FILENAME, &clip_cache,
      "Load the encoded clip from FILE if made with the same settings, else save it there", "FILE" },
    { "user", 0, 0, G_OPTION_ARG_STRING, &user, "User name clients must give (needs --auth)", "U" },
    { "password-file", 0, 0, G_OPTION_ARG_FILENAME, &password_file,
      "Read the password from the first line of FILE (needs --auth)", "FILE" },
    { "auth", 0, 0, G_OPTION_ARG_STRING, &auth,
      "Require --user on every stream, with Basic or Digest authentication", "basic|digest" },
    { "codec", 0, 0, G_OPTION_ARG_STRING, &codec, "Video codec (default h264)", "h264|h265" },
    { "audio", 0, 0, G_OPTION_ARG_STRING, &audio,
      "Audio track: AAC 16 kHz or G.711 A-law 8 kHz, mono (default none)", "none|aac|pcma" },
    { "picture", 0, 0, G_OPTION_ARG_STRING, &picture,
      "What every stream shows at first (default normal)", PICTURES },
    { "ptz", 0, 0, G_OPTION_ARG_NONE, &ptz,
      "Every stream is a PTZ camera with a live encoder (needs --picture normal)", NULL },
    { "onvif-port", 0, 0, G_OPTION_ARG_INT, &onvif_port,
      "Also serve ONVIF (device, media, PTZ) on this TCP port of 127.0.0.1, 0 for any", "P" },
    { "onvif-user", 0, 0, G_OPTION_ARG_STRING, &onvif_user, "ONVIF user (needs --onvif-auth)", "U" },
    { "onvif-password-file", 0, 0, G_OPTION_ARG_FILENAME, &onvif_password_file,
      "Read the ONVIF password from the first line of FILE", "FILE" },
    { "onvif-auth", 0, 0, G_OPTION_ARG_STRING, &onvif_auth, "ONVIF authentication (default none)",
      "none|wsse|digest-md5|digest-sha256|both" },
    { "clock-offset", 0, 0, G_OPTION_ARG_INT, &clock_offset,
      "The ONVIF device's clock minus the real one", "SECONDS" },
    { "quirk", 0, 0, G_OPTION_ARG_STRING_ARRAY, &quirks, "An ONVIF quirk; repeatable",
      "no-get-services|internal-addresses|ignores-timeout|no-stop|degrees|"
      "rejects-combined-move|no-position|html-errors" },
    { "discovery-port", 0, 0, G_OPTION_ARG_INT, &discovery_port,
      "Answer WS-Discovery probes on this UDP port of 127.0.0.1, 0 for any", "P" },
    { "no-stdin", 0, 0, G_OPTION_ARG_NONE, &no_stdin,
      "Ignore stdin; run until SIGINT or SIGTERM", NULL },
    { NULL }
  };

  context = g_option_context_new ("- serve looping H.264 or H.265 test streams over RTSP");
  g_option_context_set_description (context,
      "Commands on stdin, one per line, each answered with one line:\n"
      "  drop K | stall K | video-stall K (audio flows) | keyframes-only K | restore K |\n"
      "  offline | online |\n"
      "  resolution K WxH | clients K |\n"
      "  picture K " PICTURES " (switch at the next keyframe) |\n"
      "  ptz K PAN TILT ZOOM (with --ptz; pan, tilt -1..1, zoom 0..1) | get-ptz K |\n"
      "  auth-failures (401 answers sent) | quit\n"
      "EOF on stdin quits unless --no-stdin is given.\n");
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_add_group (context, gst_init_get_option_group ());
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("vigil-simcam: %s\n", error->message);
      return EXIT_FAILURE;
    }
  if (streams < 1 || port < 0 || port > 65535 || fps < 0 || bitrate < 0 || gop < 0 || seconds < 0)
    {
      g_printerr ("vigil-simcam: --streams must be positive and the other numbers not negative\n");
      return EXIT_FAILURE;
    }
  if (size != NULL && !parse_size (size, &options.width, &options.height))
    {
      g_printerr ("vigil-simcam: --size takes WxH, for example 1920x1080\n");
      return EXIT_FAILURE;
    }
  if (auth != NULL && g_str_equal (auth, "basic"))
    options.auth = VIGIL_SIMCAM_AUTH_BASIC;
  else if (auth != NULL && g_str_equal (auth, "digest"))
    options.auth = VIGIL_SIMCAM_AUTH_DIGEST;
  else if (auth != NULL)
    {
      g_printerr ("vigil-simcam: --auth takes basic or digest\n");
      return EXIT_FAILURE;
    }
  if (codec == NULL || g_str_equal (codec, "h264"))
    options.codec = VIGIL_SIMCAM_CODEC_H264;
  else if (g_str_equal (codec, "h265"))
    options.codec = VIGIL_SIMCAM_CODEC_H265;
  else
    {
      g_printerr ("vigil-simcam: --codec takes h264 or h265\n");
      return EXIT_FAILURE;
    }
  if (audio == NULL || g_str_equal (audio, "none"))
    options.audio = VIGIL_SIMCAM_AUDIO_NONE;
  else if (g_str_equal (audio, "aac"))
    options.audio = VIGIL_SIMCAM_AUDIO_AAC;
  else if (g_str_equal (audio, "pcma"))
    options.audio = VIGIL_SIMCAM_AUDIO_PCMA;
  else
    {
      g_printerr ("vigil-simcam: --audio takes none, aac or pcma\n");
      return EXIT_FAILURE;
    }
  if (picture != NULL && !vigil_simcam_picture_from_string (picture, &options.picture))
    {
      g_printerr ("vigil-simcam: --picture takes one of " PICTURES "\n");
      return EXIT_FAILURE;
    }
  if ((options.auth != VIGIL_SIMCAM_AUTH_NONE) != (user != NULL) ||
      (user != NULL) != (password_file != NULL))
    {
      g_printerr ("vigil-simcam: --auth, --user and --password-file go together\n");
      return EXIT_FAILURE;
    }
  if (password_file != NULL && (password = read_password (password_file, &error)) == NULL)
    {
      g_printerr ("vigil-simcam: %s\n", error->message);
      return EXIT_FAILURE;
    }
  if (onvif_auth == NULL || g_str_equal (onvif_auth, "none"))
    onvif_options.auth = VIGIL_SIMCAM_ONVIF_AUTH_NONE;
  else if (g_str_equal (onvif_auth, "wsse"))
    onvif_options.auth = VIGIL_SIMCAM_ONVIF_AUTH_WSSE;
  else if (g_str_equal (onvif_auth, "digest-md5"))
    onvif_options.auth = VIGIL_SIMCAM_ONVIF_AUTH_DIGEST_MD5;
  else if (g_str_equal (onvif_auth, "digest-sha256"))
    onvif_options.auth = VIGIL_SIMCAM_ONVIF_AUTH_DIGEST_SHA256;
  else if (g_str_equal (onvif_auth, "both"))
    onvif_options.auth = VIGIL_SIMCAM_ONVIF_AUTH_BOTH;
  else
    {
      g_printerr ("vigil-simcam: --onvif-auth takes none, wsse, digest-md5, digest-sha256 or both\n");
      return EXIT_FAILURE;
    }
  for (guint i = 0; quirks != NULL && quirks[i] != NULL; i++)
    {
      VigilSimcamOnvifQuirks quirk;

      if (!vigil_simcam_onvif_quirk_from_string (quirks[i], &quirk))
        {
          g_printerr ("vigil-simcam: unknown --quirk '%s'\n", quirks[i]);
          return EXIT_FAILURE;
        }
      onvif_options.quirks |= quirk;
    }
  if (onvif_port > 65535 || discovery_port > 65535 ||
      ((onvif_options.auth != VIGIL_SIMCAM_ONVIF_AUTH_NONE) !=
       (onvif_user != NULL && onvif_password_file != NULL)))
    {
      g_printerr ("vigil-simcam: --onvif-auth needs --onvif-user and --onvif-password-file, "
                  "and ports are at most 65535\n");
      return EXIT_FAILURE;
    }
  if (onvif_password_file != NULL &&
      (onvif_password = read_password (onvif_password_file, &error)) == NULL)
    {
      g_printerr ("vigil-simcam: %s\n", error->message);
      return EXIT_FAILURE;
    }
  gst_init (&argc, &argv);

  options.n_streams = streams;
  options.port = port;
  options.fps = fps;
  options.bitrate_kbps = bitrate;
  options.gop_frames = gop;
  options.clip_seconds = seconds;
  options.clip_cache = clip_cache;
  options.clip_file = clip_file;
  options.user = user;
  options.password = password;
  options.ptz = ptz;

  /* Handlers go in before the clip is encoded, which can take seconds: a
   * background job inherits SIGINT ignored, and a SIGTERM meanwhile would
   * kill without cleanup. A signal caught now is handled once the loop runs. */
  app.loop = g_main_loop_new (NULL, FALSE);
  sigint_id = g_unix_signal_add (SIGINT, on_signal, &app);
  sigterm_id = g_unix_signal_add (SIGTERM, on_signal, &app);

  app.simcam = vigil_simcam_new (&options, &error);
  if (app.simcam == NULL)
    {
      g_printerr ("vigil-simcam: %s\n", error->message);
      g_source_remove (sigint_id);
      g_source_remove (sigterm_id);
      g_main_loop_unref (app.loop);
      return EXIT_FAILURE;
    }

  for (guint i = 0; i < (guint) streams; i++)
    {
      g_autofree gchar *url = vigil_simcam_get_url (app.simcam, i);

      printf ("%s\n", url);
    }
  if (onvif_port >= 0)
    {
      g_autofree gchar *main_url = vigil_simcam_get_url (app.simcam, 0);
      g_autofree gchar *sub_url = streams >= 2 ? vigil_simcam_get_url (app.simcam, 1) : NULL;
      g_autofree gchar *device_url = NULL;

      onvif_options.port = onvif_port;
      onvif_options.user = onvif_user;
      onvif_options.password = onvif_password;
      onvif_options.clock_offset_s = clock_offset;
      onvif_options.main_profile.stream_uri = main_url;
      onvif_options.main_profile.width = options.width;
      onvif_options.main_profile.height = options.height;
      onvif_options.main_profile.fps = options.fps;
      onvif_options.main_profile.encoding = options.codec == VIGIL_SIMCAM_CODEC_H265 ? "H265" : "H264";
      onvif_options.sub_profile = onvif_options.main_profile;
      onvif_options.sub_profile.stream_uri = sub_url;
      onvif_options.discovery = discovery_port >= 0;
      onvif_options.discovery_port = MAX (discovery_port, 0);
      if (ptz)
        {
          /* The ONVIF head turns stream 0's picture. */
          onvif_options.moved = on_onvif_moved;
          onvif_options.moved_data = app.simcam;
        }
      app.onvif = vigil_simcam_onvif_new (&onvif_options, &error);
      if (app.onvif == NULL)
        {
          g_printerr ("vigil-simcam: %s\n", error->message);
          g_clear_object (&app.simcam);
          g_source_remove (sigint_id);
          g_source_remove (sigterm_id);
          g_main_loop_unref (app.loop);
          return EXIT_FAILURE;
        }
      device_url = vigil_simcam_onvif_get_device_url (app.onvif);
      printf ("%s\n", device_url);
      if (onvif_options.discovery)
        printf ("discovery 127.0.0.1:%u\n", vigil_simcam_onvif_get_discovery_port (app.onvif));
    }
  reply ("ready");

  if (!no_stdin)
    {
      in = g_io_channel_unix_new (STDIN_FILENO);
      /* Commands are ASCII; do not fail on other bytes. */
      g_io_channel_set_encoding (in, NULL, NULL);
      app.stdin_id = g_io_add_watch (in, G_IO_IN | G_IO_HUP | G_IO_ERR, on_stdin, &app);
    }

  g_main_loop_run (app.loop);

  g_clear_handle_id (&app.stdin_id, g_source_remove);
  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  g_clear_object (&app.onvif);
  g_clear_object (&app.simcam);
  g_main_loop_unref (app.loop);
  /* Joins gst-rtsp-server's idle media threads, so valgrind sees none left. */
  gst_rtsp_thread_pool_cleanup ();
  gst_deinit ();
  return EXIT_SUCCESS;
}
