using System.Diagnostics;

namespace Hbone.Protocol;

/// <summary>A W3C Trace Context <c>traceparent</c> header (version 00) tying a tunnel to a trace.</summary>
public readonly struct TraceParent : IEquatable<TraceParent>
{
    /// <summary>Length of a version 00 value: <c>00-</c> + 32 + <c>-</c> + 16 + <c>-</c> + 2.</summary>
    public const int Length = 55;

    /// <summary>Creates a trace parent from its parts.</summary>
    /// <param name="traceId">The trace id.</param>
    /// <param name="spanId">The parent span id.</param>
    /// <param name="flags">The trace flags.</param>
    public TraceParent(ActivityTraceId traceId, ActivitySpanId spanId, ActivityTraceFlags flags)
    {
        TraceId = traceId;
        SpanId = spanId;
        Flags = flags;
    }

    /// <summary>The 16-byte trace id.</summary>
    public ActivityTraceId TraceId { get; }

    /// <summary>The 8-byte id of the parent span.</summary>
    public ActivitySpanId SpanId { get; }

    /// <summary>The trace flags (bit 0: sampled).</summary>
    public ActivityTraceFlags Flags { get; }

    /// <summary>Parses a <c>traceparent</c> value without throwing.</summary>
    /// <param name="value">The header value: <c>00-&lt;32 hex&gt;-&lt;16 hex&gt;-&lt;2 hex&gt;</c>, lowercase.</param>
    /// <param name="traceParent">The parsed value, or <see langword="default"/> on failure.</param>
    /// <returns>False for a wrong length, uppercase or non-hex digits, all-zero ids, or version <c>ff</c>.</returns>
    /// <remarks>Versions after 00 are read as 00 when they have the 00 layout followed by nothing or <c>-</c> (W3C forward compatibility).</remarks>
    public static bool TryParse(ReadOnlySpan<char> value, out TraceParent traceParent)
    {
        traceParent = default;
        if (value.Length < Length || value[2] != '-' || value[35] != '-' || value[52] != '-')
        {
            return false;
        }
        ReadOnlySpan<char> version = value[..2];
        ReadOnlySpan<char> traceId = value.Slice(3, 32);
        ReadOnlySpan<char> spanId = value.Slice(36, 16);
        ReadOnlySpan<char> flags = value.Slice(53, 2);
        if (!IsLowerHex(version) || version.SequenceEqual("ff") || !IsLowerHex(traceId) || !IsLowerHex(spanId) || !IsLowerHex(flags))
        {
            return false;
        }
        bool v00 = version.SequenceEqual("00");
        if (value.Length != Length && (v00 || value[Length] != '-'))
        {
            return false;
        }
        if (!traceId.ContainsAnyExcept('0') || !spanId.ContainsAnyExcept('0'))
        {
            return false;
        }
        int flagBits = (HexValue(flags[0]) << 4) | HexValue(flags[1]);
        traceParent = new TraceParent(ActivityTraceId.CreateFromString(traceId), ActivitySpanId.CreateFromString(spanId), (ActivityTraceFlags)flagBits);
        return true;
    }

    /// <summary>Creates a new random trace and span id with flags 00, as ztunnel sends per outbound connection.</summary>
    /// <returns>A new trace parent.</returns>
    public static TraceParent CreateRandom() => new(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.None);

    /// <summary>The header value: <c>00-&lt;32 hex&gt;-&lt;16 hex&gt;-&lt;2 hex&gt;</c>.</summary>
    /// <returns>The 55-character value.</returns>
    public override string ToString() => string.Create(Length, this, static (span, self) =>
    {
        // ActivityTraceId/ActivitySpanId cache their hex text, so ToHexString() does not allocate here.
        "00-".CopyTo(span);
        self.TraceId.ToHexString().CopyTo(span[3..]);
        span[35] = '-';
        self.SpanId.ToHexString().CopyTo(span[36..]);
        span[52] = '-';
        ((int)self.Flags & 0xff).TryFormat(span[53..], out _, "x2");
    });

    /// <inheritdoc/>
    public bool Equals(TraceParent other) => TraceId == other.TraceId && SpanId == other.SpanId && Flags == other.Flags;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is TraceParent other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(TraceId, SpanId, Flags);

    /// <summary>True when both values carry the same ids and flags.</summary>
    /// <param name="left">The first value.</param>
    /// <param name="right">The second value.</param>
    /// <returns>Whether they are equal.</returns>
    public static bool operator ==(TraceParent left, TraceParent right) => left.Equals(right);

    /// <summary>True when the values differ in an id or the flags.</summary>
    /// <param name="left">The first value.</param>
    /// <param name="right">The second value.</param>
    /// <returns>Whether they differ.</returns>
    public static bool operator !=(TraceParent left, TraceParent right) => !left.Equals(right);

    private static bool IsLowerHex(ReadOnlySpan<char> text)
    {
        foreach (char c in text)
        {
            if (!char.IsAsciiDigit(c) && c is not (>= 'a' and <= 'f'))
            {
                return false;
            }
        }
        return true;
    }

    private static int HexValue(char c) => c <= '9' ? c - '0' : c - 'a' + 10;
}
