/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilRtspRefusal: a refusing RTSP answer, as an end reason and back. */
#include "vigil-rtsp-refusal.h"

#include <gst/rtsp/gstrtspdefs.h>
#include <string.h>

VigilRtspRefusal
vigil_rtsp_refusal_from_status (guint status)
{
  switch (status)
    {
    case GST_RTSP_STS_UNAUTHORIZED:
    case GST_RTSP_STS_FORBIDDEN:
      return VIGIL_RTSP_REFUSAL_LOGIN;
    case GST_RTSP_STS_SESSION_NOT_FOUND:
    case GST_RTSP_STS_SERVICE_UNAVAILABLE:
      return VIGIL_RTSP_REFUSAL_BUSY;
    default:
      return VIGIL_RTSP_REFUSAL_NONE;
    }
}

gchar *
vigil_rtsp_refusal_describe_status (guint status)
{
  return g_strdup_printf ("%u %s", status, gst_rtsp_status_as_text ((GstRTSPStatusCode) status));
}

gchar *
vigil_rtsp_refusal_describe (GstMessage *message)
{
  const GstStructure *details = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *answer = NULL;
  guint status = 0;
  VigilRtspRefusal refusal;

  if (GST_MESSAGE_TYPE (message) != GST_MESSAGE_ERROR)
    return NULL;
  gst_message_parse_error_details (message, &details);
  if (details == NULL || !gst_structure_get_uint (details, "rtsp-status-code", &status))
    return NULL;
  refusal = vigil_rtsp_refusal_from_status (status);
  if (refusal == VIGIL_RTSP_REFUSAL_NONE)
    return NULL;
  gst_message_parse_error (message, &error, NULL);
  /* The status's own words, not the camera's: a reason phrase is
   * whatever the camera put there. */
  answer = vigil_rtsp_refusal_describe_status (status);
  return g_strdup_printf ("%s (%s): %s",
                          refusal == VIGIL_RTSP_REFUSAL_LOGIN ? VIGIL_RTSP_LOGIN_REFUSED : VIGIL_RTSP_CAMERA_BUSY,
                          answer, error->message);
}

VigilRtspRefusal
vigil_rtsp_refusal_parse (const gchar *reason, guint *out_status)
{
  const gchar *rest = NULL;
  guint64 status = 0;
  gchar *end = NULL;

  if (out_status != NULL)
    *out_status = 0;
  if (reason == NULL)
    return VIGIL_RTSP_REFUSAL_NONE;
  if (g_str_has_prefix (reason, VIGIL_RTSP_LOGIN_REFUSED " ("))
    rest = reason + strlen (VIGIL_RTSP_LOGIN_REFUSED " (");
  else if (g_str_has_prefix (reason, VIGIL_RTSP_CAMERA_BUSY " ("))
    rest = reason + strlen (VIGIL_RTSP_CAMERA_BUSY " (");
  else
    return VIGIL_RTSP_REFUSAL_NONE;
  status = g_ascii_strtoull (rest, &end, 10);
  if (end == rest || status > G_MAXUINT)
    return VIGIL_RTSP_REFUSAL_NONE;
  if (out_status != NULL)
    *out_status = (guint) status;
  return vigil_rtsp_refusal_from_status ((guint) status);
}
