/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The errors vigild returns to its D-Bus callers. Each code is a D-Bus
 * error name under org.vigil.Vigil1.Error, so vigilctl and scripts can
 * tell them apart; the message always says what was wrong. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define VIGIL_ERROR (vigil_error_quark ())
typedef enum {
  VIGIL_ERROR_FAILED,            /* .Failed: vigild could not do it (I/O, catalog); see message */
  VIGIL_ERROR_UNKNOWN_CAMERA,    /* .UnknownCamera: no camera of that name */
  VIGIL_ERROR_UNKNOWN_INCIDENT,  /* .UnknownIncident: no incident with that id or path */
  VIGIL_ERROR_INVALID_ARGUMENT,  /* .InvalidArgument: a value out of range; the message names it */
  VIGIL_ERROR_NO_RECORDING,      /* .NoRecording: nothing recorded in the range */
  VIGIL_ERROR_NOT_WRITABLE,      /* .NotWritable: export destination refused */
  VIGIL_ERROR_RANGE_TOO_LARGE,   /* .RangeTooLarge: more than an export may cover */
  VIGIL_ERROR_NO_SPACE,          /* .NoSpace: the destination has too little free space */
  VIGIL_ERROR_CANCELLED,         /* .Cancelled: the caller cancelled it */
  VIGIL_ERROR_NOT_SUPPORTED,     /* .NotSupported: the camera cannot (no ONVIF, no PTZ, no such move) */
  VIGIL_ERROR_ACCESS_DENIED,     /* .AccessDenied: the caller lacks the action (polkit); the message names it */
  VIGIL_ERROR_RATE_LIMITED,      /* .RateLimited: too many from one caller; the message says when to retry */
} VigilError;
GQuark vigil_error_quark (void);

/* Turns a VigilStore error into the VIGIL_ERROR a caller should see;
 * @not_found is the code for NOT_FOUND (an unknown camera or incident). */
void vigil_error_from_store (GError **error, VigilError not_found);
/* The same for a VigilOnvif error: the camera's answer stays in the message. */
void vigil_error_from_onvif (GError **error);

G_END_DECLS
