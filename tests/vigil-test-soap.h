/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Whole HTTP+SOAP answers of a pretend ONVIF camera, for tests that serve
 * VigilOnvifCamera from memory (vigil_onvif_camera_set_reply_func()): the
 * SOAP 1.2 envelope with ONVIF's namespaces around a body, and the HTTP
 * head around that. Header-only and GLib only, so that the fuzz targets
 * (built with or without GStreamer and the test library) can use it too;
 * never part of vigil itself. */
#pragma once

#include <string.h>

#include <glib.h>

#define VIGIL_TEST_SOAP_ENVELOPE_START                                  \
  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"                        \
  "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\""     \
  " xmlns:tt=\"http://www.onvif.org/ver10/schema\""                     \
  " xmlns:tds=\"http://www.onvif.org/ver10/device/wsdl\""               \
  " xmlns:trt=\"http://www.onvif.org/ver10/media/wsdl\""                \
  " xmlns:tptz=\"http://www.onvif.org/ver20/ptz/wsdl\""                 \
  " xmlns:ter=\"http://www.onvif.org/ver10/error\"><s:Body>"
#define VIGIL_TEST_SOAP_ENVELOPE_END "</s:Body></s:Envelope>\n"

/* A camera clock at 2024-05-01 12:30:15 UTC. */
#define VIGIL_TEST_SOAP_DATE_AND_TIME_BODY                                                 \
  "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"                              \
  "<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>" \
  "<tt:UTCDateTime><tt:Time><tt:Hour>12</tt:Hour><tt:Minute>30</tt:Minute>"               \
  "<tt:Second>15</tt:Second></tt:Time><tt:Date><tt:Year>2024</tt:Year>"                   \
  "<tt:Month>5</tt:Month><tt:Day>1</tt:Day></tt:Date></tt:UTCDateTime>"                   \
  "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"

/* "HTTP/1.1 @status" with @body (the elements inside s:Body) in the
 * envelope; the connection closes after it. */
static inline GBytes *
vigil_test_soap_answer (const gchar *status, const gchar *body)
{
  gsize body_len = strlen (VIGIL_TEST_SOAP_ENVELOPE_START) + strlen (body) +
                   strlen (VIGIL_TEST_SOAP_ENVELOPE_END);
  gchar *all = g_strdup_printf ("HTTP/1.1 %s\r\n"
                                "Content-Type: application/soap+xml; charset=utf-8\r\n"
                                "Content-Length: %zu\r\nConnection: close\r\n\r\n"
                                VIGIL_TEST_SOAP_ENVELOPE_START "%s" VIGIL_TEST_SOAP_ENVELOPE_END,
                                status, body_len, body);

  return g_bytes_new_take (all, strlen (all));
}
