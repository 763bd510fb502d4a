/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Reassembles H.264 (RFC 6184) and H.265 (RFC 7798) RTP payloads into
 * Annex B access units (start code before every NAL unit), as the
 * depayloaders do, but straight from vigilrtspsrc's read buffer into one
 * growing byte array per stream: one allocation per frame instead of
 * several per packet. Handles single NAL units, STAP-A / AP aggregates
 * and FU-A / FU fragments; an access unit ends at the RTP marker bit or
 * when the timestamp changes. A fragment whose start was not seen is
 * dropped (cannot happen over TCP, but a buggy camera must not crash us).
 * Plain data, one thread. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  VIGIL_NAL_CODEC_H264,
  VIGIL_NAL_CODEC_H265,
} VigilNalCodec;

/* Receives each complete access unit; @au is only valid during the call. */
typedef void (*VigilNalEmitFunc) (const guint8 *au, gsize len, guint32 rtp_timestamp, gpointer user_data);

typedef struct {
  VigilNalCodec  codec;
  GByteArray    *au;               /* Annex B bytes of the unit being assembled */
  guint32        au_timestamp;     /* RTP timestamp of those bytes */
  gboolean       in_fragment;      /* inside a fragmented NAL unit whose start we saw */
  GByteArray    *parameter_sets;   /* from the SDP, put before the first unit; NULL once used */
} VigilNalAssembler;

void vigil_nal_assembler_init  (VigilNalAssembler *assembler, VigilNalCodec codec);
void vigil_nal_assembler_clear (VigilNalAssembler *assembler);
/* Parameter sets (SPS, PPS, VPS) given out of band, as raw NAL units. */
void vigil_nal_assembler_add_parameter_set (VigilNalAssembler *assembler, const guint8 *nal, gsize len);
/* One RTP packet's payload. */
void vigil_nal_assembler_push  (VigilNalAssembler *assembler,
                                const guint8      *payload,
                                gsize              len,
                                guint32            rtp_timestamp,
                                gboolean           marker,
                                VigilNalEmitFunc   emit,
                                gpointer           user_data);

G_END_DECLS
