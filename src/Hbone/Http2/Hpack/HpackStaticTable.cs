using System.Text;

namespace Hbone.Http2.Hpack;

/// <summary>The 61 predefined header fields of RFC 7541 Appendix A (index 1 to 61).</summary>
internal static class HpackStaticTable
{
    /// <summary>Number of entries; dynamic table indices start after it.</summary>
    public const int Count = 61;

    private static readonly (string Name, string Value)[] s_entries =
    [
        (":authority", ""),
        (":method", "GET"),
        (":method", "POST"),
        (":path", "/"),
        (":path", "/index.html"),
        (":scheme", "http"),
        (":scheme", "https"),
        (":status", "200"),
        (":status", "204"),
        (":status", "206"),
        (":status", "304"),
        (":status", "400"),
        (":status", "404"),
        (":status", "500"),
        ("accept-charset", ""),
        ("accept-encoding", "gzip, deflate"),
        ("accept-language", ""),
        ("accept-ranges", ""),
        ("accept", ""),
        ("access-control-allow-origin", ""),
        ("age", ""),
        ("allow", ""),
        ("authorization", ""),
        ("cache-control", ""),
        ("content-disposition", ""),
        ("content-encoding", ""),
        ("content-language", ""),
        ("content-length", ""),
        ("content-location", ""),
        ("content-range", ""),
        ("content-type", ""),
        ("cookie", ""),
        ("date", ""),
        ("etag", ""),
        ("expect", ""),
        ("expires", ""),
        ("from", ""),
        ("host", ""),
        ("if-match", ""),
        ("if-modified-since", ""),
        ("if-none-match", ""),
        ("if-range", ""),
        ("if-unmodified-since", ""),
        ("last-modified", ""),
        ("link", ""),
        ("location", ""),
        ("max-forwards", ""),
        ("proxy-authenticate", ""),
        ("proxy-authorization", ""),
        ("range", ""),
        ("referer", ""),
        ("refresh", ""),
        ("retry-after", ""),
        ("server", ""),
        ("set-cookie", ""),
        ("strict-transport-security", ""),
        ("transfer-encoding", ""),
        ("user-agent", ""),
        ("vary", ""),
        ("via", ""),
        ("www-authenticate", ""),
    ];

    // Index 0 is unused so that the RFC index addresses the arrays directly.
    private static readonly byte[][] s_names = BuildColumn(names: true);
    private static readonly byte[][] s_values = BuildColumn(names: false);

    /// <summary>The name of entry <paramref name="index"/> (1..61).</summary>
    public static ReadOnlySpan<byte> GetName(int index) => s_names[index];

    /// <summary>The value of entry <paramref name="index"/> (1..61); empty for most entries.</summary>
    public static ReadOnlySpan<byte> GetValue(int index) => s_values[index];

    /// <summary>The name of entry <paramref name="index"/> as text (tests and diagnostics).</summary>
    public static string GetNameString(int index) => s_entries[index - 1].Name;

    /// <summary>The value of entry <paramref name="index"/> as text (tests and diagnostics).</summary>
    public static string GetValueString(int index) => s_entries[index - 1].Value;

    private static byte[][] BuildColumn(bool names)
    {
        var column = new byte[Count + 1][];
        column[0] = [];
        for (int i = 0; i < s_entries.Length; i++)
        {
            column[i + 1] = Encoding.ASCII.GetBytes(names ? s_entries[i].Name : s_entries[i].Value);
        }

        return column;
    }
}
