/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vigil's gSOAP interface header: the ONVIF device (ver10), media (ver10)
 * and PTZ (ver20) operations vigil uses (plus GetVideoSources, which only the
 * simulated camera serves), as SOAP 1.2 document/literal, with
 * WS-Security headers from gSOAP's own wsse.h. soapcpp2 turns it into the
 * serialisers and stubs (client, and server for the simulated camera) at build
 * time. Hand-written from the ONVIF specifications' message shapes; it must
 * never grow into a copy of ONVIF's WSDL or schemas, nor carry types nothing
 * in vigil reads or writes.
 *
 * Tolerance: every element vigil does not strictly need is optional
 * (minOccurs 0), enumerations are plain strings, and elements not declared
 * here are skipped by gSOAP's lax (non-SOAP_XML_STRICT) parser, so what real
 * cameras add does not break parsing. Element order is not enforced either. */

#import "wsse.h"

/* ----- namespaces ------------------------------------------------------- */

//gsoap tt schema namespace: http://www.onvif.org/ver10/schema
//gsoap tt schema elementForm: qualified
//gsoap tt schema attributeForm: unqualified

//gsoap ter schema namespace: http://www.onvif.org/ver10/error

//gsoap tds schema namespace: http://www.onvif.org/ver10/device/wsdl
//gsoap tds schema elementForm: qualified
//gsoap tds schema attributeForm: unqualified

//gsoap trt schema namespace: http://www.onvif.org/ver10/media/wsdl
//gsoap trt schema elementForm: qualified
//gsoap trt schema attributeForm: unqualified

//gsoap tptz schema namespace: http://www.onvif.org/ver20/ptz/wsdl
//gsoap tptz schema elementForm: qualified
//gsoap tptz schema attributeForm: unqualified

/* ----- simple types ----------------------------------------------------- */

enum xsd__boolean { xsd__boolean__false_ = 0, xsd__boolean__true_ = 1 };
typedef char *xsd__anyURI;
typedef char *xsd__duration;   /* ISO 8601, e.g. PT1.5S; parsed by hand */
typedef char *xsd__dateTime_;  /* kept as text; parsed by hand */
typedef char *tt__ReferenceToken;
/* A placeholder so that the error namespace gets a prefix in the table. */
typedef char *ter__Code;

/* ----- common schema types (tt) ------------------------------------------ */

struct tt__Time { int Hour; int Minute; int Second; };
struct tt__Date { int Year; int Month; int Day; };
struct tt__DateTime {
  struct tt__Time *Time 0;
  struct tt__Date *Date 0;
};
struct tt__TimeZone { char *TZ 0; };
struct tt__SystemDateTime {
  char                 *DateTimeType 0;     /* Manual | NTP */
  enum xsd__boolean    *DaylightSavings 0;
  struct tt__TimeZone  *TimeZone 0;
  struct tt__DateTime  *UTCDateTime 0;
  struct tt__DateTime  *LocalDateTime 0;
};

struct tt__XAddrCapabilities { xsd__anyURI XAddr 0; };
struct tt__Capabilities {
  struct tt__XAddrCapabilities *Analytics 0;
  struct tt__XAddrCapabilities *Device 0;
  struct tt__XAddrCapabilities *Events 0;
  struct tt__XAddrCapabilities *Imaging 0;
  struct tt__XAddrCapabilities *Media 0;
  struct tt__XAddrCapabilities *PTZ 0;
};

struct tt__VideoResolution { int Width; int Height; };
struct tt__VideoRateControl {
  int *FrameRateLimit 0;
  int *EncodingInterval 0;
  int *BitrateLimit 0;
};
struct tt__VideoEncoderConfiguration {
  @tt__ReferenceToken token 0;
  char                        *Name 0;
  int                         *UseCount 0;
  char                        *Encoding 0;   /* JPEG | MPEG4 | H264 (H265 from Media2 devices) */
  struct tt__VideoResolution  *Resolution 0;
  float                       *Quality 0;
  struct tt__VideoRateControl *RateControl 0;
};
/* Only the simulated camera writes these (GetVideoSources and the profiles'
 * source configuration): Profile S clients such as the npm onvif package
 * pair each profile with its video source and drop profiles they cannot
 * pair. vigil's client ignores them. */
struct tt__IntRectangle { @int x 1; @int y 1; @int width 1; @int height 1; };
struct tt__VideoSourceConfiguration {
  @tt__ReferenceToken token 0;
  char                    *Name 0;
  int                     *UseCount 0;
  tt__ReferenceToken       SourceToken 0;
  struct tt__IntRectangle *Bounds 0;
};
struct tt__VideoSource {
  @tt__ReferenceToken token 1;
  float                      *Framerate 0;
  struct tt__VideoResolution *Resolution 0;
};
struct tt__PTZConfiguration {
  @tt__ReferenceToken token 0;
  char               *Name 0;
  int                *UseCount 0;
  tt__ReferenceToken  NodeToken 0;
};
struct tt__Profile {
  @tt__ReferenceToken token 1;
  @enum xsd__boolean *fixed 0;
  char                                 *Name 0;
  struct tt__VideoSourceConfiguration  *VideoSourceConfiguration 0;
  struct tt__VideoEncoderConfiguration *VideoEncoderConfiguration 0;
  struct tt__PTZConfiguration          *PTZConfiguration 0;
};

struct tt__Transport { char *Protocol 0; };   /* UDP | TCP | RTSP | HTTP */
struct tt__StreamSetup {
  char                 *Stream 0;               /* RTP-Unicast | RTP-Multicast */
  struct tt__Transport *Transport 0;
};
struct tt__MediaUri {
  xsd__anyURI        Uri 0;
  enum xsd__boolean *InvalidAfterConnect 0;
  enum xsd__boolean *InvalidAfterReboot 0;
  xsd__duration      Timeout 0;
};

/* PanTilt and Zoom of every PTZ vector and speed: x (and y), and the space
 * they are in. */
struct tt__Vector2D { @double x 1; @double y 1; @xsd__anyURI space 0; };
struct tt__Vector1D { @double x 1; @xsd__anyURI space 0; };
struct tt__PTZVector {
  struct tt__Vector2D *PanTilt 0;
  struct tt__Vector1D *Zoom 0;
};
struct tt__PTZMoveStatus {
  char *PanTilt 0;   /* IDLE | MOVING | UNKNOWN */
  char *Zoom 0;
};
struct tt__PTZStatus {
  struct tt__PTZVector     *Position 0;
  struct tt__PTZMoveStatus *MoveStatus 0;
  char                     *Error 0;
  xsd__dateTime_            UtcTime 0;
};
struct tt__PTZPreset {
  @tt__ReferenceToken token 0;
  char                 *Name 0;
  struct tt__PTZVector *PTZPosition 0;
};

struct tt__FloatRange { float Min; float Max; };
struct tt__Space2DDescription {
  xsd__anyURI            URI 0;
  struct tt__FloatRange *XRange 0;
  struct tt__FloatRange *YRange 0;
};
struct tt__Space1DDescription {
  xsd__anyURI            URI 0;
  struct tt__FloatRange *XRange 0;
};
struct tt__PTZSpaces {
  int __sizeAbsolutePanTiltPositionSpace 0;
  struct tt__Space2DDescription *AbsolutePanTiltPositionSpace 0;
  int __sizeAbsoluteZoomPositionSpace 0;
  struct tt__Space1DDescription *AbsoluteZoomPositionSpace 0;
  int __sizeRelativePanTiltTranslationSpace 0;
  struct tt__Space2DDescription *RelativePanTiltTranslationSpace 0;
  int __sizeRelativeZoomTranslationSpace 0;
  struct tt__Space1DDescription *RelativeZoomTranslationSpace 0;
  int __sizeContinuousPanTiltVelocitySpace 0;
  struct tt__Space2DDescription *ContinuousPanTiltVelocitySpace 0;
  int __sizeContinuousZoomVelocitySpace 0;
  struct tt__Space1DDescription *ContinuousZoomVelocitySpace 0;
  int __sizePanTiltSpeedSpace 0;
  struct tt__Space1DDescription *PanTiltSpeedSpace 0;
  int __sizeZoomSpeedSpace 0;
  struct tt__Space1DDescription *ZoomSpeedSpace 0;
};
struct tt__PTZNode {
  @tt__ReferenceToken token 0;
  @enum xsd__boolean *FixedHomePosition 0;
  char                 *Name 0;
  struct tt__PTZSpaces *SupportedPTZSpaces 0;
  int                  *MaximumNumberOfPresets 0;
  enum xsd__boolean    *HomeSupported 0;
};

/* ----- device service (tds) ---------------------------------------------- */

struct tds__Service {
  xsd__anyURI Namespace 0;
  xsd__anyURI XAddr 0;
};

struct _tds__GetSystemDateAndTime { };
struct _tds__GetSystemDateAndTimeResponse {
  struct tt__SystemDateTime *SystemDateAndTime 0;
};
struct _tds__GetDeviceInformation { };
struct _tds__GetDeviceInformationResponse {
  char *Manufacturer 0;
  char *Model 0;
  char *FirmwareVersion 0;
  char *SerialNumber 0;
  char *HardwareId 0;
};
struct _tds__GetServices { enum xsd__boolean IncludeCapability 1; };
struct _tds__GetServicesResponse {
  int __sizeService 0;
  struct tds__Service *Service 0;
};
struct _tds__GetCapabilities {
  int __sizeCategory 0;
  char **Category 0;   /* All | Analytics | Device | Events | Imaging | Media | PTZ */
};
struct _tds__GetCapabilitiesResponse {
  struct tt__Capabilities *Capabilities 0;
};

//gsoap tds service name: Device
//gsoap tds service namespace: http://www.onvif.org/ver10/device/wsdl
//gsoap tds service style: document
//gsoap tds service encoding: literal
//gsoap tds service method-action: GetSystemDateAndTime http://www.onvif.org/ver10/device/wsdl/GetSystemDateAndTime
int __tds__GetSystemDateAndTime (struct _tds__GetSystemDateAndTime *tds__GetSystemDateAndTime,
                                 struct _tds__GetSystemDateAndTimeResponse *tds__GetSystemDateAndTimeResponse);
//gsoap tds service method-action: GetDeviceInformation http://www.onvif.org/ver10/device/wsdl/GetDeviceInformation
int __tds__GetDeviceInformation (struct _tds__GetDeviceInformation *tds__GetDeviceInformation,
                                 struct _tds__GetDeviceInformationResponse *tds__GetDeviceInformationResponse);
//gsoap tds service method-action: GetServices http://www.onvif.org/ver10/device/wsdl/GetServices
int __tds__GetServices (struct _tds__GetServices *tds__GetServices,
                        struct _tds__GetServicesResponse *tds__GetServicesResponse);
//gsoap tds service method-action: GetCapabilities http://www.onvif.org/ver10/device/wsdl/GetCapabilities
int __tds__GetCapabilities (struct _tds__GetCapabilities *tds__GetCapabilities,
                            struct _tds__GetCapabilitiesResponse *tds__GetCapabilitiesResponse);

/* ----- media service (trt) ------------------------------------------------ */

struct _trt__GetProfiles { };
struct _trt__GetProfilesResponse {
  int __sizeProfiles 0;
  struct tt__Profile *Profiles 0;
};
struct _trt__GetStreamUri {
  struct tt__StreamSetup *StreamSetup 1;
  tt__ReferenceToken      ProfileToken 1;
};
struct _trt__GetStreamUriResponse { struct tt__MediaUri *MediaUri 0; };
struct _trt__GetSnapshotUri { tt__ReferenceToken ProfileToken 1; };
struct _trt__GetSnapshotUriResponse { struct tt__MediaUri *MediaUri 0; };
struct _trt__GetVideoSources { };
struct _trt__GetVideoSourcesResponse {
  int __sizeVideoSources 0;
  struct tt__VideoSource *VideoSources 0;
};

//gsoap trt service name: Media
//gsoap trt service namespace: http://www.onvif.org/ver10/media/wsdl
//gsoap trt service style: document
//gsoap trt service encoding: literal
//gsoap trt service method-action: GetProfiles http://www.onvif.org/ver10/media/wsdl/GetProfiles
int __trt__GetProfiles (struct _trt__GetProfiles *trt__GetProfiles,
                        struct _trt__GetProfilesResponse *trt__GetProfilesResponse);
//gsoap trt service method-action: GetStreamUri http://www.onvif.org/ver10/media/wsdl/GetStreamUri
int __trt__GetStreamUri (struct _trt__GetStreamUri *trt__GetStreamUri,
                         struct _trt__GetStreamUriResponse *trt__GetStreamUriResponse);
//gsoap trt service method-action: GetSnapshotUri http://www.onvif.org/ver10/media/wsdl/GetSnapshotUri
int __trt__GetSnapshotUri (struct _trt__GetSnapshotUri *trt__GetSnapshotUri,
                           struct _trt__GetSnapshotUriResponse *trt__GetSnapshotUriResponse);
/* Served by the simulated camera only (see tt__VideoSource). */
//gsoap trt service method-action: GetVideoSources http://www.onvif.org/ver10/media/wsdl/GetVideoSources
int __trt__GetVideoSources (struct _trt__GetVideoSources *trt__GetVideoSources,
                            struct _trt__GetVideoSourcesResponse *trt__GetVideoSourcesResponse);

/* ----- PTZ service (tptz, ver20) ------------------------------------------ */

struct _tptz__GetNodes { };
struct _tptz__GetNodesResponse {
  int __sizePTZNode 0;
  struct tt__PTZNode *PTZNode 0;
};
struct _tptz__ContinuousMove {
  tt__ReferenceToken    ProfileToken 1;
  struct tt__PTZVector *Velocity 1;
  xsd__duration         Timeout 0;
};
struct _tptz__ContinuousMoveResponse { };
struct _tptz__RelativeMove {
  tt__ReferenceToken    ProfileToken 1;
  struct tt__PTZVector *Translation 1;
  struct tt__PTZVector *Speed 0;
};
struct _tptz__RelativeMoveResponse { };
struct _tptz__AbsoluteMove {
  tt__ReferenceToken    ProfileToken 1;
  struct tt__PTZVector *Position 1;
  struct tt__PTZVector *Speed 0;
};
struct _tptz__AbsoluteMoveResponse { };
struct _tptz__Stop {
  tt__ReferenceToken  ProfileToken 1;
  enum xsd__boolean  *PanTilt 0;
  enum xsd__boolean  *Zoom 0;
};
struct _tptz__StopResponse { };
struct _tptz__GetStatus { tt__ReferenceToken ProfileToken 1; };
struct _tptz__GetStatusResponse { struct tt__PTZStatus *PTZStatus 0; };
struct _tptz__GetPresets { tt__ReferenceToken ProfileToken 1; };
struct _tptz__GetPresetsResponse {
  int __sizePreset 0;
  struct tt__PTZPreset *Preset 0;
};
struct _tptz__SetPreset {
  tt__ReferenceToken ProfileToken 1;
  char              *PresetName 0;
  tt__ReferenceToken PresetToken 0;
};
struct _tptz__SetPresetResponse { tt__ReferenceToken PresetToken 0; };
struct _tptz__GotoPreset {
  tt__ReferenceToken    ProfileToken 1;
  tt__ReferenceToken    PresetToken 1;
  struct tt__PTZVector *Speed 0;
};
struct _tptz__GotoPresetResponse { };
struct _tptz__RemovePreset {
  tt__ReferenceToken ProfileToken 1;
  tt__ReferenceToken PresetToken 1;
};
struct _tptz__RemovePresetResponse { };

//gsoap tptz service name: PTZ
//gsoap tptz service namespace: http://www.onvif.org/ver20/ptz/wsdl
//gsoap tptz service style: document
//gsoap tptz service encoding: literal
//gsoap tptz service method-action: GetNodes http://www.onvif.org/ver20/ptz/wsdl/GetNodes
int __tptz__GetNodes (struct _tptz__GetNodes *tptz__GetNodes,
                      struct _tptz__GetNodesResponse *tptz__GetNodesResponse);
//gsoap tptz service method-action: ContinuousMove http://www.onvif.org/ver20/ptz/wsdl/ContinuousMove
int __tptz__ContinuousMove (struct _tptz__ContinuousMove *tptz__ContinuousMove,
                            struct _tptz__ContinuousMoveResponse *tptz__ContinuousMoveResponse);
//gsoap tptz service method-action: RelativeMove http://www.onvif.org/ver20/ptz/wsdl/RelativeMove
int __tptz__RelativeMove (struct _tptz__RelativeMove *tptz__RelativeMove,
                          struct _tptz__RelativeMoveResponse *tptz__RelativeMoveResponse);
//gsoap tptz service method-action: AbsoluteMove http://www.onvif.org/ver20/ptz/wsdl/AbsoluteMove
int __tptz__AbsoluteMove (struct _tptz__AbsoluteMove *tptz__AbsoluteMove,
                          struct _tptz__AbsoluteMoveResponse *tptz__AbsoluteMoveResponse);
//gsoap tptz service method-action: Stop http://www.onvif.org/ver20/ptz/wsdl/Stop
int __tptz__Stop (struct _tptz__Stop *tptz__Stop,
                  struct _tptz__StopResponse *tptz__StopResponse);
//gsoap tptz service method-action: GetStatus http://www.onvif.org/ver20/ptz/wsdl/GetStatus
int __tptz__GetStatus (struct _tptz__GetStatus *tptz__GetStatus,
                       struct _tptz__GetStatusResponse *tptz__GetStatusResponse);
//gsoap tptz service method-action: GetPresets http://www.onvif.org/ver20/ptz/wsdl/GetPresets
int __tptz__GetPresets (struct _tptz__GetPresets *tptz__GetPresets,
                        struct _tptz__GetPresetsResponse *tptz__GetPresetsResponse);
//gsoap tptz service method-action: SetPreset http://www.onvif.org/ver20/ptz/wsdl/SetPreset
int __tptz__SetPreset (struct _tptz__SetPreset *tptz__SetPreset,
                       struct _tptz__SetPresetResponse *tptz__SetPresetResponse);
//gsoap tptz service method-action: GotoPreset http://www.onvif.org/ver20/ptz/wsdl/GotoPreset
int __tptz__GotoPreset (struct _tptz__GotoPreset *tptz__GotoPreset,
                        struct _tptz__GotoPresetResponse *tptz__GotoPresetResponse);
//gsoap tptz service method-action: RemovePreset http://www.onvif.org/ver20/ptz/wsdl/RemovePreset
int __tptz__RemovePreset (struct _tptz__RemovePreset *tptz__RemovePreset,
                          struct _tptz__RemovePresetResponse *tptz__RemovePresetResponse);
