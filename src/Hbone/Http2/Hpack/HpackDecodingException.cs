namespace Hbone.Http2.Hpack;

/// <summary>A malformed header block; the connection answers with COMPRESSION_ERROR (RFC 9113 §4.3).</summary>
internal sealed class HpackDecodingException : Exception
{
    public HpackDecodingException()
    {
    }

    public HpackDecodingException(string message)
        : base(message)
    {
    }

    public HpackDecodingException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
