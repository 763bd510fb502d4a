/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vigilctl camera: acting on one camera's recording. For now "retry": a
 * camera that refused the login or was busy waits minutes before it is
 * tried again (so that it does not lock its account); after the operator
 * corrected its password file, this tries it at once. */
#include <stdio.h>

#include "vigilctl-private.h"

int
cmd_camera (Ctl *ctl, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilDBusCamera) camera = NULL;
  gboolean started = FALSE;
  int status;

  if (!parse_options (ctl, "retry CAM",
                      "  retry CAM   try a camera now that waits for its next attempt (it refused the\n"
                      "              login, was busy, or failed); its password file is read again\n"
                      "              first. In the audit log.",
                      NULL, NULL, &argc, &argv))
    return EXIT_USAGE;
  if (argc < 2)
    return usage (ctl, "which action? (retry)");
  if (!g_str_equal (argv[1], "retry"))
    return usage (ctl, "unknown action “%s” (retry)", argv[1]);
  if (argc != 3)
    return usage (ctl, argc < 3 ? "which camera?" : "one camera at a time");
  if ((status = ctl_connect (ctl)) != EXIT_OK)
    return status;
  camera = ctl_get_camera (ctl, argv[2], &error);
  if (camera == NULL)
    return fail (error);
  if (!vigil_dbus_camera_call_retry_sync (camera, &started, NULL, &error))
    {
      if (is_unknown_object (error))
        return fail_message ("no camera “%s” (vigilctl cameras lists them)", argv[2]);
      return fail (error);
    }
  if (opt_json)
    {
      g_autoptr(JsonBuilder) builder = json_begin ();

      json_add_string (builder, "camera", argv[2]);
      json_add_boolean (builder, "started", started);
      json_print (builder);
    }
  else if (started)
    printf ("camera %s: trying now (vigilctl cameras shows how it went)\n", argv[2]);
  else
    printf ("camera %s: not waiting for an attempt (%s); nothing to do\n", argv[2],
            vigil_dbus_camera_get_state (camera));
  return EXIT_OK;
}
