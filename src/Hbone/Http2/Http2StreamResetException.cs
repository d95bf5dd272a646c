namespace Hbone.Http2;

/// <summary>The peer reset an HTTP/2 stream (RST_STREAM), or refused it with GOAWAY before processing it.</summary>
public sealed class Http2StreamResetException : HboneException
{
    /// <summary>Creates the exception for <paramref name="errorCode"/>.</summary>
    public Http2StreamResetException(Http2ErrorCode errorCode, string? message = null)
        : base(HboneErrorReason.PeerReset, message ?? $"The peer reset the stream ({errorCode}).")
    {
        ErrorCode = errorCode;
    }

    /// <summary>The RST_STREAM error code; <see cref="Http2ErrorCode.ConnectError"/> means the far end's TCP connection was reset.</summary>
    public Http2ErrorCode ErrorCode { get; }

    /// <summary>True when the stream was not processed at all, so it may be retried on another connection.</summary>
    public bool IsRetryable => ErrorCode == Http2ErrorCode.RefusedStream;
}
