namespace Hbone.Http2;

/// <summary>HTTP/2 error codes (RFC 9113 §7) as they appear in RST_STREAM and GOAWAY.</summary>
public enum Http2ErrorCode
{
    /// <summary>Graceful end.</summary>
    NoError = 0x0,
    /// <summary>The peer broke the protocol.</summary>
    ProtocolError = 0x1,
    /// <summary>An unexpected internal failure.</summary>
    InternalError = 0x2,
    /// <summary>Flow-control limits were violated.</summary>
    FlowControlError = 0x3,
    /// <summary>SETTINGS were not acknowledged in time.</summary>
    SettingsTimeout = 0x4,
    /// <summary>A frame arrived on a closed stream.</summary>
    StreamClosed = 0x5,
    /// <summary>A frame had an invalid size.</summary>
    FrameSizeError = 0x6,
    /// <summary>The stream was refused before any processing; it may be retried.</summary>
    RefusedStream = 0x7,
    /// <summary>The stream is no longer needed.</summary>
    Cancel = 0x8,
    /// <summary>The header compression context broke.</summary>
    CompressionError = 0x9,
    /// <summary>The TCP connection of a CONNECT was reset or abnormally closed.</summary>
    ConnectError = 0xa,
    /// <summary>The peer is generating excessive load.</summary>
    EnhanceYourCalm = 0xb,
    /// <summary>The transport does not meet minimum security requirements.</summary>
    InadequateSecurity = 0xc,
    /// <summary>HTTP/1.1 is required instead.</summary>
    Http11Required = 0xd,
}
