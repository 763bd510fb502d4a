/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VIGIL_ERROR and its D-Bus names. */
#include "vigil-error.h"

#include "vigil-onvif.h"
#include "vigil-store.h"

static const GDBusErrorEntry entries[] = {
  { VIGIL_ERROR_FAILED, "org.vigil.Vigil1.Error.Failed" },
  { VIGIL_ERROR_UNKNOWN_CAMERA, "org.vigil.Vigil1.Error.UnknownCamera" },
  { VIGIL_ERROR_UNKNOWN_INCIDENT, "org.vigil.Vigil1.Error.UnknownIncident" },
  { VIGIL_ERROR_INVALID_ARGUMENT, "org.vigil.Vigil1.Error.InvalidArgument" },
  { VIGIL_ERROR_NO_RECORDING, "org.vigil.Vigil1.Error.NoRecording" },
  { VIGIL_ERROR_NOT_WRITABLE, "org.vigil.Vigil1.Error.NotWritable" },
  { VIGIL_ERROR_RANGE_TOO_LARGE, "org.vigil.Vigil1.Error.RangeTooLarge" },
  { VIGIL_ERROR_NO_SPACE, "org.vigil.Vigil1.Error.NoSpace" },
  { VIGIL_ERROR_CANCELLED, "org.vigil.Vigil1.Error.Cancelled" },
  { VIGIL_ERROR_NOT_SUPPORTED, "org.vigil.Vigil1.Error.NotSupported" },
  { VIGIL_ERROR_ACCESS_DENIED, "org.vigil.Vigil1.Error.AccessDenied" },
  { VIGIL_ERROR_RATE_LIMITED, "org.vigil.Vigil1.Error.RateLimited" },
};

GQuark
vigil_error_quark (void)
{
  static gsize quark = 0;

  g_dbus_error_register_error_domain ("vigil-error-quark", &quark, entries, G_N_ELEMENTS (entries));
  return (GQuark) quark;
}

void
vigil_error_from_store (GError **error, VigilError not_found)
{
  if (error == NULL || *error == NULL || (*error)->domain == VIGIL_ERROR)
    return;
  if (g_error_matches (*error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_NOT_FOUND))
    (*error)->code = not_found;
  else if (g_error_matches (*error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_INVALID))
    (*error)->code = VIGIL_ERROR_INVALID_ARGUMENT;
  else if (g_error_matches (*error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    (*error)->code = VIGIL_ERROR_CANCELLED;
  else
    (*error)->code = VIGIL_ERROR_FAILED;
  (*error)->domain = VIGIL_ERROR;
}

void
vigil_error_from_onvif (GError **error)
{
  if (error == NULL || *error == NULL || (*error)->domain == VIGIL_ERROR)
    return;
  if (g_error_matches (*error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_INVALID))
    (*error)->code = VIGIL_ERROR_INVALID_ARGUMENT;
  else if (g_error_matches (*error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_NOT_SUPPORTED))
    (*error)->code = VIGIL_ERROR_NOT_SUPPORTED;
  else if (g_error_matches (*error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_CANCELLED))
    (*error)->code = VIGIL_ERROR_CANCELLED;
  else
    (*error)->code = VIGIL_ERROR_FAILED;
  (*error)->domain = VIGIL_ERROR;
}
