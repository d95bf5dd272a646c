using Hbone.Http2;

namespace Hbone.Kestrel.Http2;

/// <summary>A connection error (RFC 9113 §5.4.1): the engine answers GOAWAY with <see cref="Code"/> and closes.</summary>
internal sealed class Http2ConnectionErrorException : Exception
{
    public Http2ConnectionErrorException(Http2ErrorCode code, string message)
        : base(message)
    {
        Code = code;
    }

    public Http2ConnectionErrorException()
    {
    }

    public Http2ConnectionErrorException(string message)
        : base(message)
    {
    }

    public Http2ConnectionErrorException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public Http2ErrorCode Code { get; }
}
