namespace Hbone.Http2.Hpack;

/// <summary>Receives each decoded header field; the spans are valid only during the call.</summary>
internal interface IHpackHeaderHandler
{
    void OnHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value);
}
