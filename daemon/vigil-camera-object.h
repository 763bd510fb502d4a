/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilCameraObject is one configured camera on D-Bus
 * (org.vigil.Vigil1.Camera, at /org/vigil/Vigil1/Camera/NAME). Its
 * properties follow the VigilCamera: state, rates, bytes stored, clock,
 * and for a camera set up by ONVIF the device it reported, and why it
 * waits when it refused the login or is busy. ListSpans answers from the
 * catalog; Retry cuts a wait short, audited with the caller; the PTZ and preset methods go to the camera
 * through its VigilOnvifLink, never blocking the main thread, and each
 * command that moves it or changes its presets is audited with the
 * caller, whether the camera obeyed or not. Main thread. */
#pragma once

#include <gio/gio.h>

#include "vigil-camera.h"
#include "vigil-dbus-generated.h"

G_BEGIN_DECLS

#define VIGIL_TYPE_CAMERA_OBJECT (vigil_camera_object_get_type ())
G_DECLARE_FINAL_TYPE (VigilCameraObject, vigil_camera_object, VIGIL, CAMERA_OBJECT, VigilDBusCameraSkeleton)

/* The object path of the camera named @name. */
gchar             *vigil_camera_object_build_path (const gchar *name);

/* Shows @camera, with the bytes @store holds for it. */
VigilCameraObject *vigil_camera_object_new        (VigilCamera *camera,
                                                   VigilStore  *store);
VigilCamera       *vigil_camera_object_get_camera (VigilCameraObject *self);
/* Reads StoredBytes again from the catalog (after retention deleted). */
void               vigil_camera_object_refresh_stored_bytes (VigilCameraObject *self);
/* Sends a PTZ camera to its preset named @preset, for an incident's
 * "preset" option, auditing it as @invocation's caller's with @why. A
 * camera without PTZ is left alone; one without such a preset is logged
 * and audited as refused. Does not wait for the camera. */
void               vigil_camera_object_goto_preset (VigilCameraObject     *self,
                                                    GDBusMethodInvocation *invocation,
                                                    const gchar           *preset,
                                                    const gchar           *why);

G_END_DECLS
