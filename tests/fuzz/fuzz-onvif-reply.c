/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz target: arbitrary bytes as a camera's HTTP+SOAP answer to one ONVIF
 * operation, through VigilOnvifCamera's public calls and the real parsing
 * path (gSOAP's HTTP and XML parsing, HTTP digest, the deserialisers, and
 * vigil's fault mapping, address rewrite, range mapping and text
 * sanitising); only the socket is replaced (vigil_onvif_camera_set_reply_func).
 * It must never touch the network.
 *
 * Input: byte 0 picks the operation (see targets[]), byte 1 holds flags
 * (bit 0: the camera has credentials, bit 1: keep_addresses), the rest is
 * the answer. The answer may be several, joined by SEPARATOR: the target
 * operation's exchanges take them in order (a retry after a digest
 * challenge or a NotAuthorized fault takes the second) and the last one
 * repeats. Every other operation gets a valid canned answer.
 *
 * Beyond "no crash, no leak": a failing call must set a VIGIL_ONVIF_ERROR
 * with a non-empty, valid UTF-8 message without the password, and a
 * succeeding call must return valid UTF-8 strings and PTZ values in the
 * generic ranges that vigil-onvif.h promises. */

#define _GNU_SOURCE   /* memmem() */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vigil-onvif.h"
#include "vigil-onvif-private.h"
#include "fuzz-common.h"
#include "vigil-test-soap.h"

#define DEVICE_URL "http://192.0.2.10:8080/onvif/device_service"
#define USER "admin"
#define PASSWORD "pw-Vq7#k2Lx9"
#define SEPARATOR "\n--vigil-fuzz-next--\n"
#define PROFILE "main"


/* Valid answers of a PTZ camera whose spaces are in degrees and whose
 * services advertise an internal address. */
static const struct {
  const gchar *op;
  const gchar *body;
} canned[] = {
  { "GetSystemDateAndTime", VIGIL_TEST_SOAP_DATE_AND_TIME_BODY },
  { "GetDeviceInformation",
    "<tds:GetDeviceInformationResponse><tds:Manufacturer>Acme</tds:Manufacturer>"
    "<tds:Model>PTZ-1</tds:Model><tds:FirmwareVersion>1.0</tds:FirmwareVersion>"
    "<tds:SerialNumber>42</tds:SerialNumber><tds:HardwareId>hw</tds:HardwareId>"
    "</tds:GetDeviceInformationResponse>" },
  { "GetServices",
    "<tds:GetServicesResponse>"
    "<tds:Service><tds:Namespace>http://www.onvif.org/ver10/device/wsdl</tds:Namespace>"
    "<tds:XAddr>http://10.0.0.5/onvif/device_service</tds:XAddr></tds:Service>"
    "<tds:Service><tds:Namespace>http://www.onvif.org/ver10/media/wsdl</tds:Namespace>"
    "<tds:XAddr>http://10.0.0.5/onvif/media</tds:XAddr></tds:Service>"
    "<tds:Service><tds:Namespace>http://www.onvif.org/ver20/ptz/wsdl</tds:Namespace>"
    "<tds:XAddr>http://10.0.0.5/onvif/ptz</tds:XAddr></tds:Service>"
    "</tds:GetServicesResponse>" },
  { "GetCapabilities",
    "<tds:GetCapabilitiesResponse><tds:Capabilities>"
    "<tt:Media><tt:XAddr>http://10.0.0.5/onvif/media</tt:XAddr></tt:Media>"
    "<tt:PTZ><tt:XAddr>http://10.0.0.5/onvif/ptz</tt:XAddr></tt:PTZ>"
    "</tds:Capabilities></tds:GetCapabilitiesResponse>" },
  { "GetProfiles",
    "<trt:GetProfilesResponse>"
    "<trt:Profiles token=\"main\"><tt:Name>Main</tt:Name>"
    "<tt:VideoEncoderConfiguration token=\"v0\"><tt:Encoding>H264</tt:Encoding>"
    "<tt:Resolution><tt:Width>1920</tt:Width><tt:Height>1080</tt:Height></tt:Resolution>"
    "<tt:RateControl><tt:FrameRateLimit>25</tt:FrameRateLimit>"
    "<tt:BitrateLimit>4096</tt:BitrateLimit></tt:RateControl></tt:VideoEncoderConfiguration>"
    "<tt:PTZConfiguration token=\"c0\"><tt:NodeToken>n0</tt:NodeToken></tt:PTZConfiguration>"
    "</trt:Profiles>"
    "<trt:Profiles token=\"sub\"><tt:Name>Sub</tt:Name></trt:Profiles>"
    "</trt:GetProfilesResponse>" },
  { "GetStreamUri",
    "<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>rtsp://10.0.0.5:554/main</tt:Uri>"
    "</trt:MediaUri></trt:GetStreamUriResponse>" },
  { "GetSnapshotUri",
    "<trt:GetSnapshotUriResponse><trt:MediaUri><tt:Uri>http://10.0.0.5/snap.jpg</tt:Uri>"
    "</trt:MediaUri></trt:GetSnapshotUriResponse>" },
  { "GetNodes",
    "<tptz:GetNodesResponse><tptz:PTZNode token=\"n0\"><tt:Name>head</tt:Name>"
    "<tt:SupportedPTZSpaces>"
    "<tt:AbsolutePanTiltPositionSpace><tt:URI>http://example.com/degrees</tt:URI>"
    "<tt:XRange><tt:Min>-180</tt:Min><tt:Max>180</tt:Max></tt:XRange>"
    "<tt:YRange><tt:Min>-90</tt:Min><tt:Max>0</tt:Max></tt:YRange>"
    "</tt:AbsolutePanTiltPositionSpace>"
    "<tt:AbsoluteZoomPositionSpace><tt:URI>http://example.com/zoom</tt:URI>"
    "<tt:XRange><tt:Min>1</tt:Min><tt:Max>30</tt:Max></tt:XRange>"
    "</tt:AbsoluteZoomPositionSpace>"
    "<tt:ContinuousPanTiltVelocitySpace>"
    "<tt:URI>http://www.onvif.org/ver10/tptz/PanTiltSpaces/VelocityGenericSpace</tt:URI>"
    "<tt:XRange><tt:Min>-1</tt:Min><tt:Max>1</tt:Max></tt:XRange>"
    "<tt:YRange><tt:Min>-1</tt:Min><tt:Max>1</tt:Max></tt:YRange>"
    "</tt:ContinuousPanTiltVelocitySpace>"
    "<tt:RelativePanTiltTranslationSpace><tt:URI>http://example.com/rel</tt:URI>"
    "<tt:XRange><tt:Min>-10</tt:Min><tt:Max>10</tt:Max></tt:XRange>"
    "<tt:YRange><tt:Min>-5</tt:Min><tt:Max>5</tt:Max></tt:YRange>"
    "</tt:RelativePanTiltTranslationSpace>"
    "</tt:SupportedPTZSpaces><tt:MaximumNumberOfPresets>32</tt:MaximumNumberOfPresets>"
    "<tt:HomeSupported>true</tt:HomeSupported></tptz:PTZNode></tptz:GetNodesResponse>" },
  { "GetStatus",
    "<tptz:GetStatusResponse><tptz:PTZStatus><tt:Position>"
    "<tt:PanTilt x=\"90\" y=\"-45\"/><tt:Zoom x=\"15.5\"/></tt:Position>"
    "<tt:MoveStatus><tt:PanTilt>IDLE</tt:PanTilt><tt:Zoom>MOVING</tt:Zoom></tt:MoveStatus>"
    "</tptz:PTZStatus></tptz:GetStatusResponse>" },
  { "GetPresets",
    "<tptz:GetPresetsResponse>"
    "<tptz:Preset token=\"1\"><tt:Name>door</tt:Name><tt:PTZPosition>"
    "<tt:PanTilt x=\"-180\" y=\"0\"/><tt:Zoom x=\"1\"/></tt:PTZPosition></tptz:Preset>"
    "<tptz:Preset token=\"2\"><tt:Name>gate</tt:Name></tptz:Preset>"
    "</tptz:GetPresetsResponse>" },
  { "SetPreset",
    "<tptz:SetPresetResponse><tptz:PresetToken>3</tptz:PresetToken></tptz:SetPresetResponse>" },
  { "ContinuousMove", "<tptz:ContinuousMoveResponse/>" },
  { "RelativeMove", "<tptz:RelativeMoveResponse/>" },
  { "AbsoluteMove", "<tptz:AbsoluteMoveResponse/>" },
  { "Stop", "<tptz:StopResponse/>" },
  { "GotoPreset", "<tptz:GotoPresetResponse/>" },
  { "RemovePreset", "<tptz:RemovePresetResponse/>" },
};

/* GetServices when GetCapabilities is the target: an older camera. */
static const gchar services_unsupported[] =
  "<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode>"
  "<s:Value>ter:ActionNotSupported</s:Value></s:Subcode></s:Code>"
  "<s:Reason><s:Text xml:lang=\"en\">GetServices is not supported</s:Text></s:Reason>"
  "</s:Fault>";

typedef struct {
  const gchar *op;            /* whose answers are the fuzz input */
  GPtrArray   *answers;       /* GBytes *, the input split on SEPARATOR */
  guint        next;          /* the target's next answer */
  guint        exchanges;     /* all of them, to bound the calls */
} Script;

static GBytes *
on_reply (const gchar *op, const gchar *url, gpointer user_data)
{
  Script *script = user_data;

  /* Every public call makes a handful of exchanges; more means a loop. */
  fuzz_check (++script->exchanges < 64, "more than 63 exchanges for one input");
  fuzz_check (g_str_has_prefix (url, "http://"), "request to a non-HTTP URL");
  if (g_str_equal (op, script->op))
    {
      guint i = MIN (script->next, script->answers->len - 1);

      script->next++;
      return g_bytes_ref (script->answers->pdata[i]);
    }
  if (g_str_equal (op, "GetServices") && g_str_equal (script->op, "GetCapabilities"))
    return vigil_test_soap_answer ("400 Bad Request", services_unsupported);
  for (guint i = 0; i < G_N_ELEMENTS (canned); i++)
    if (g_str_equal (op, canned[i].op))
      return vigil_test_soap_answer ("200 OK", canned[i].body);
  fuzz_check (FALSE, "no canned answer for this operation");
  return NULL;
}

/* Whether the input spells the password itself: then a camera "echoed"
 * it (libFuzzer learns it from the comparison below) and an error may
 * quote it. vigil never sends it in clear, so a real camera cannot. */
static gboolean input_has_password;

/* The contract of every fallible call in vigil-onvif.h. */
static void
check_outcome (gboolean ok, GError *error)
{
  if (ok)
    {
      fuzz_check (error == NULL, "a call succeeded but set an error");
      return;
    }
  fuzz_check (error != NULL, "a call failed without an error");
  fuzz_check (error->domain == VIGIL_ONVIF_ERROR, "an error outside VIGIL_ONVIF_ERROR");
  fuzz_check (error->message != NULL && error->message[0] != '\0', "an empty error message");
  fuzz_check (g_utf8_validate (error->message, -1, NULL), "an error message that is not UTF-8");
  fuzz_check (input_has_password || strstr (error->message, PASSWORD) == NULL,
              "the password in an error message");
}

static void
check_text (const gchar *text)
{
  fuzz_check (text == NULL || g_utf8_validate (text, -1, NULL), "a string that is not UTF-8");
}

static void
check_generic (gdouble value, gdouble min, gdouble max)
{
  fuzz_check (isfinite (value) && value >= min && value <= max,
              "a PTZ value outside its generic range");
}

static void
check_status (const VigilOnvifPtzStatus *status)
{
  if (status->has_position)
    {
      check_generic (status->pan, -1, 1);
      check_generic (status->tilt, -1, 1);
      check_generic (status->zoom, 0, 1);
    }
}

static void
check_presets (GPtrArray *presets)
{
  for (guint i = 0; presets != NULL && i < presets->len; i++)
    {
      const VigilOnvifPreset *preset = presets->pdata[i];

      fuzz_check (preset->token != NULL, "a preset without a token");
      check_text (preset->token);
      check_text (preset->name);
      if (preset->has_position)
        {
          check_generic (preset->pan, -1, 1);
          check_generic (preset->tilt, -1, 1);
          check_generic (preset->zoom, 0, 1);
        }
    }
}

static void
check_profiles (GPtrArray *profiles)
{
  for (guint i = 0; profiles != NULL && i < profiles->len; i++)
    {
      const VigilOnvifProfile *profile = profiles->pdata[i];

      fuzz_check (profile->token != NULL, "a profile without a token");
      check_text (profile->token);
      check_text (profile->name);
      check_text (profile->encoding);
      fuzz_check (isfinite (profile->fps) && profile->fps >= 0, "a bad frame rate");
    }
}

static void
check_device_info (VigilOnvifCamera *camera)
{
  g_autoptr(VigilOnvifDeviceInfo) info = vigil_onvif_camera_get_device_info (camera);

  check_text (info->manufacturer);
  check_text (info->model);
  check_text (info->firmware_version);
  check_text (info->serial_number);
  check_text (info->hardware_id);
}

static void
check_uri (gchar *uri, gboolean ok)
{
  fuzz_check (!ok || (uri != NULL && uri[0] != '\0'), "an empty URI");
  check_text (uri);
  g_free (uri);
}

/* A few PTZ calls on the node learnt, so its ranges are used both ways. */
static void
exercise_ptz (VigilOnvifCamera *camera)
{
  VigilOnvifPtzCapabilities caps;
  VigilOnvifPtzStatus status;
  g_autoptr(GPtrArray) presets = NULL;
  g_autoptr(GError) error = NULL;
  gboolean ok;

  ok = vigil_onvif_camera_get_ptz_capabilities (camera, PROFILE, &caps, NULL, &error);
  check_outcome (ok, error);
  g_clear_error (&error);
  ok = vigil_onvif_camera_get_ptz_status (camera, PROFILE, &status, NULL, &error);
  check_outcome (ok, error);
  if (ok)
    check_status (&status);
  g_clear_error (&error);
  presets = vigil_onvif_camera_list_presets (camera, PROFILE, NULL, &error);
  check_outcome (presets != NULL, error);
  check_presets (presets);
  g_clear_error (&error);
  ok = vigil_onvif_camera_relative_move (camera, PROFILE, 0.5, -1, 0.25, 0.5, NULL, &error);
  check_outcome (ok, error);
  g_clear_error (&error);
  ok = vigil_onvif_camera_absolute_move (camera, PROFILE, -0.5, 1, 0.75, -1, NULL, &error);
  check_outcome (ok, error);
}

static void
run_connect (VigilOnvifCamera *camera)
{
  g_autoptr(GError) error = NULL;
  gboolean ok = vigil_onvif_camera_connect (camera, NULL, &error);

  check_outcome (ok, error);
  check_device_info (camera);
  if (ok)
    {
      g_autoptr(GError) uri_error = NULL;
      gchar *uri = vigil_onvif_camera_get_stream_uri (camera, PROFILE, NULL, &uri_error);

      check_outcome (uri != NULL, uri_error);
      check_uri (uri, uri != NULL);
    }
}

static void
run_profiles (VigilOnvifCamera *camera)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) profiles = vigil_onvif_camera_list_profiles (camera, NULL, &error);

  check_outcome (profiles != NULL, error);
  check_profiles (profiles);
  /* The camera's own tokens go back into requests and lookups. */
  if (profiles != NULL && profiles->len > 0)
    {
      const VigilOnvifProfile *first = profiles->pdata[0];
      VigilOnvifPtzCapabilities caps;
      g_autoptr(GError) uri_error = NULL;
      g_autoptr(GError) ptz_error = NULL;
      gchar *uri = vigil_onvif_camera_get_stream_uri (camera, first->token, NULL, &uri_error);
      gboolean ok;

      check_outcome (uri != NULL, uri_error);
      check_uri (uri, uri != NULL);
      ok = vigil_onvif_camera_get_ptz_capabilities (camera, first->token, &caps, NULL,
                                                    &ptz_error);
      check_outcome (ok, ptz_error);
    }
}

static void
run_media_uri (VigilOnvifCamera *camera, gboolean snapshot)
{
  g_autoptr(GError) error = NULL;
  gchar *uri = snapshot ? vigil_onvif_camera_get_snapshot_uri (camera, PROFILE, NULL, &error)
                        : vigil_onvif_camera_get_stream_uri (camera, PROFILE, NULL, &error);

  check_outcome (uri != NULL, error);
  check_uri (uri, uri != NULL);
}

static void
run_ptz_status (VigilOnvifCamera *camera)
{
  VigilOnvifPtzStatus status;
  g_autoptr(GError) error = NULL;
  gboolean ok = vigil_onvif_camera_get_ptz_status (camera, PROFILE, &status, NULL, &error);

  check_outcome (ok, error);
  if (ok)
    check_status (&status);
}

static void
run_presets (VigilOnvifCamera *camera)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) presets = vigil_onvif_camera_list_presets (camera, PROFILE, NULL, &error);

  check_outcome (presets != NULL, error);
  check_presets (presets);
}

static void
run_set_preset (VigilOnvifCamera *camera)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *token = vigil_onvif_camera_set_preset (camera, PROFILE, "door", NULL, &error);

  check_outcome (token != NULL, error);
  fuzz_check (token == NULL || token[0] != '\0', "an empty preset token");
  check_text (token);
}

static void
run_move (VigilOnvifCamera *camera, const gchar *op)
{
  g_autoptr(GError) error = NULL;
  gboolean ok = FALSE;

  if (g_str_equal (op, "ContinuousMove"))
    ok = vigil_onvif_camera_continuous_move (camera, PROFILE, 0.5, -0.5, 1, 100, NULL, &error);
  else if (g_str_equal (op, "Stop"))
    ok = vigil_onvif_camera_stop (camera, PROFILE, NULL, &error);
  else if (g_str_equal (op, "RelativeMove"))
    ok = vigil_onvif_camera_relative_move (camera, PROFILE, 0.1, 0.2, 0.3, 1, NULL, &error);
  else if (g_str_equal (op, "AbsoluteMove"))
    ok = vigil_onvif_camera_absolute_move (camera, PROFILE, 0.1, 0.2, 0.3, 0.5, NULL, &error);
  else if (g_str_equal (op, "GotoPreset"))
    ok = vigil_onvif_camera_goto_preset (camera, PROFILE, "1", 0.5, NULL, &error);
  else if (g_str_equal (op, "RemovePreset"))
    ok = vigil_onvif_camera_remove_preset (camera, PROFILE, "1", NULL, &error);
  else
    fuzz_check (FALSE, "unknown move");
  check_outcome (ok, error);
}

/* The operation whose answers are fuzzed, in input byte 0 order. */
static const gchar *const targets[] = {
  "GetSystemDateAndTime", "GetDeviceInformation", "GetServices", "GetCapabilities",
  "GetProfiles", "GetStreamUri", "GetSnapshotUri", "GetNodes", "GetStatus", "GetPresets",
  "SetPreset", "ContinuousMove", "Stop", "RelativeMove", "AbsoluteMove", "GotoPreset",
  "RemovePreset",
};

static GPtrArray *
split_answers (const guint8 *data, gsize size)
{
  GPtrArray *answers = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  const gsize sep_len = strlen (SEPARATOR);
  gsize start = 0;

  for (gsize i = 0; i + sep_len <= size; i++)
    if (memcmp (data + i, SEPARATOR, sep_len) == 0)
      {
        g_ptr_array_add (answers, g_bytes_new (data + start, i - start));
        start = i + sep_len;
        i = start - 1;
      }
  g_ptr_array_add (answers, g_bytes_new (data + start, size - start));
  return answers;
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  g_autoptr(VigilOnvifCamera) camera = NULL;
  g_autoptr(GError) error = NULL;
  Script script = { 0 };
  VigilOnvifOptions options = { .device_url = DEVICE_URL, .timeout_ms = 2000 };
  guint flags;

  if (size < 2)
    return 0;
  script.op = targets[data[0] % G_N_ELEMENTS (targets)];
  flags = data[1];
  if (flags & 1)
    {
      options.user = USER;
      options.password = PASSWORD;
    }
  options.keep_addresses = (flags & 2) != 0;
  input_has_password = memmem (data, size, PASSWORD, strlen (PASSWORD)) != NULL;
  script.answers = split_answers (data + 2, size - 2);

  camera = vigil_onvif_camera_new (&options, &error);
  fuzz_check (camera != NULL, "the camera options were refused");
  vigil_onvif_camera_set_reply_func (camera, on_reply, &script);

  if (g_str_equal (script.op, "GetSystemDateAndTime") ||
      g_str_equal (script.op, "GetDeviceInformation") ||
      g_str_equal (script.op, "GetServices") || g_str_equal (script.op, "GetCapabilities"))
    run_connect (camera);
  else if (g_str_equal (script.op, "GetProfiles"))
    run_profiles (camera);
  else if (g_str_equal (script.op, "GetStreamUri"))
    run_media_uri (camera, FALSE);
  else if (g_str_equal (script.op, "GetSnapshotUri"))
    run_media_uri (camera, TRUE);
  else if (g_str_equal (script.op, "GetNodes"))
    exercise_ptz (camera);
  else if (g_str_equal (script.op, "GetStatus"))
    run_ptz_status (camera);
  else if (g_str_equal (script.op, "GetPresets"))
    run_presets (camera);
  else if (g_str_equal (script.op, "SetPreset"))
    run_set_preset (camera);
  else
    run_move (camera, script.op);

  /* The camera first: disposing it may send a pending Stop. */
  g_clear_object (&camera);
  g_ptr_array_unref (script.answers);
  return 0;
}
