using System.Buffers;
using Hbone.Http2.Hpack;
using Hbone.Protocol;

namespace Hbone.Client;

/// <summary>Encodes the CONNECT header block: <c>:method</c>, <c>:authority</c>, then the HBONE headers.</summary>
internal static class ConnectHeaders
{
    private const int MethodIndex = 2;
    private const int AuthorityIndex = 1;

    /// <summary>Encodes into a rented buffer; the caller returns it to the pool.</summary>
    public static byte[] Encode(HboneRequest request, string authority, TraceParent traceParent, string? forwardedNetwork, out int length)
    {
        var forwarded = request.ForwardedFor is { } client ? ForwardedHeader.Format(client, request.ForwardedHost) : null;
        var baggage = request.Baggage?.ToString();
        var trace = traceParent.ToString();

        // Literal fields are at most 1 + 5 + name + 5 + value bytes each (no Huffman).
        var size = 64 + authority.Length + trace.Length + (forwarded?.Length ?? 0) + (baggage?.Length ?? 0) + (forwardedNetwork?.Length ?? 0) + (5 * 40);
        var buffer = ArrayPool<byte>.Shared.Rent(size);
        var span = buffer.AsSpan();
        length = 0;
        Append(HpackEncoder.TryEncodeHeader(MethodIndex, "CONNECT", span[length..], out var written), ref length, written);
        Append(HpackEncoder.TryEncodeHeader(AuthorityIndex, authority, span[length..], out written), ref length, written);
        if (forwarded is not null)
        {
            Append(HpackEncoder.TryEncodeHeader(HboneHeaders.Forwarded, forwarded, span[length..], out written), ref length, written);
        }

        if (!string.IsNullOrEmpty(baggage))
        {
            Append(HpackEncoder.TryEncodeHeader(HboneHeaders.Baggage, baggage, span[length..], out written), ref length, written);
        }

        Append(HpackEncoder.TryEncodeHeader(HboneHeaders.TraceParent, trace, span[length..], out written), ref length, written);
        if (forwardedNetwork is not null)
        {
            Append(HpackEncoder.TryEncodeHeader(HboneHeaders.ForwardedNetwork, forwardedNetwork, span[length..], out written), ref length, written);
        }

        return buffer;
    }

    private static void Append(bool fitted, ref int length, int written)
    {
        if (!fitted)
        {
            throw new InvalidOperationException("The CONNECT header block did not fit its computed size.");
        }

        length += written;
    }
}
